namespace CodexApiServer.Service;

/// <summary>The systemd side of `service`: a user unit by default, a system unit with its own account with --system.</summary>
public sealed class LinuxService(ServiceSpec spec, bool system)
{
    private readonly string _unitPath = Path.Combine(
        system ? SystemdUnit.SystemUnitDirectory : SystemdUnit.UserUnitDirectory(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile)),
        SystemdUnit.FileName);

    public int Run(string action) => action switch
    {
        "install" => Install(),
        "uninstall" => Uninstall(),
        "status" => Status(),
        _ => SystemCommand.RunAttached(SystemdUnit.Journal(system)),
    };

    private (int ExitCode, string Output) Systemctl(params string[] args) => SystemCommand.Run(SystemdUnit.Systemctl(system, args));

    private int Install()
    {
        if (system && !Environment.IsPrivilegedProcess)
        {
            Console.Error.WriteLine("error: a system unit needs root: sudo codex-api-server service install --system");
            return 2;
        }
        if (system && SystemCommand.Run(["id", "-u", spec.SystemUser!]).ExitCode != 0)
        {
            var created = SystemCommand.Run(SystemdUnit.CreateSystemUser(spec.SystemUser!));
            if (created.ExitCode != 0)
            {
                Console.Error.WriteLine($"error: creating the account {spec.SystemUser} failed: {created.Output}");
                return 1;
            }
            Console.WriteLine($"created the system account {spec.SystemUser} (home {SystemdUnit.SystemHome})");
        }
        if (system)
        {
            Directory.CreateDirectory(spec.DataDir);
            SystemCommand.Run(["chown", "-R", spec.SystemUser + ":" + spec.SystemUser, SystemdUnit.SystemHome]);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(_unitPath)!);
        var text = SystemdUnit.Render(spec);
        var changed = !File.Exists(_unitPath) || File.ReadAllText(_unitPath) != text;
        File.WriteAllText(_unitPath, text);
        Console.WriteLine($"{(changed ? "wrote" : "unchanged:")} {_unitPath}");

        foreach (var (what, result) in new (string, Func<(int, string)>)[]
                 {
                     ("daemon-reload", () => Systemctl("daemon-reload")),
                     ("enable", () => Systemctl("enable", SystemdUnit.FileName)),
                     // restart, not start: a rewritten unit (new flags, new PATH) takes effect at once.
                     ("restart", () => Systemctl("restart", SystemdUnit.FileName)),
                 })
        {
            var (exit, output) = result();
            if (exit != 0)
            {
                Console.Error.WriteLine($"error: systemctl {(system ? "" : "--user ")}{what} failed: {output}");
                Console.Error.WriteLine(system
                    ? "The unit file is written; start it once systemd runs: systemctl enable --now " + SystemdUnit.FileName
                    : "The unit file is written, but your user's systemd is not reachable (no systemd as PID 1, or no login session: try `machinectl shell $USER@` or log in again), then: systemctl --user enable --now " + SystemdUnit.FileName);
                return 1;
            }
        }
        Console.WriteLine($"started; it starts again after a crash and at {(system ? "boot" : "login")}. {spec.Url}");
        if (system)
        {
            Console.WriteLine($"The CLIs log in as that account: sudo -u {spec.SystemUser} -H codex login; sudo -u {spec.SystemUser} -H claude (then /login)");
        }
        else if (SystemCommand.Run(["loginctl", "show-user", Environment.UserName, "--property=Linger"]).Output.Trim() != "Linger=yes")
        {
            Console.WriteLine($"It runs while you are logged in. To start it at boot and keep it after you log out: sudo loginctl enable-linger {Environment.UserName}");
        }
        return 0;
    }

    private int Uninstall()
    {
        if (!File.Exists(_unitPath))
        {
            Console.WriteLine("not installed");
            return 0;
        }
        Systemctl("disable", "--now", SystemdUnit.FileName);
        File.Delete(_unitPath);
        Systemctl("daemon-reload");
        Console.WriteLine($"stopped and removed {_unitPath}" + (system ? $" (the account {spec.SystemUser} and {SystemdUnit.SystemHome} are kept: userdel -r {spec.SystemUser} removes them)" : ""));
        return 0;
    }

    private int Status()
    {
        var (installed, running, where) = Query();
        return ServiceCommand.Status(installed, running, where, spec.Url);
    }

    public (bool Installed, bool Running, string Where) Query() =>
        (File.Exists(_unitPath), File.Exists(_unitPath) && Systemctl("is-active", SystemdUnit.FileName).Output.Trim() == "active", _unitPath);
}
