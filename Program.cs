using CodexApiServer.Hosting;

if (args is [CodexApiServer.Children.ChildWatchdog.Argument])
{
    return CodexApiServer.Children.ChildWatchdog.Run(Console.OpenStandardInput());
}

try
{
    var cli = CommandLine.Parse(args);
    switch (cli.Command)
    {
        case "help":
            Console.WriteLine(CommandLine.Usage);
            return 0;
        case "version":
            Console.WriteLine($"codex-api-server {AppInfo.Version}");
            return 0;
    }

    var settings = ServerSettings.Load(cli, Environment.GetEnvironmentVariable);
    switch (cli.Command)
    {
        case "master-key":
            Console.WriteLine(settings.Config.MasterKey);
            return 0;
        case "service":
            return CodexApiServer.Service.ServiceCommand.Run(cli, settings);
        case "doctor":
            return await Doctor.RunAsync(settings, Console.Out);
    }
    foreach (var warning in settings.Warnings)
    {
        Console.Error.WriteLine("warning: " + warning);
    }

    // Only the server as its own process has a watchdog: it runs this executable again.
    await using var app = ServerApp.Build(settings, configureServices: services =>
        services.AddSingleton(sp => CodexApiServer.Children.ChildWatchdog.Start(sp.GetRequiredService<ILogger<CodexApiServer.Children.ChildWatchdog>>())!));
    await app.StartListeningAsync(settings);
    // Start-up's garbage (configuration, service graph, route tables) would stay committed until the first busy GC.
    IdleTrim.GiveBack();
    // Native AOT's compressed type data was read once to build the type data and is not read again.
    StartupData.Release();
    Console.WriteLine($"codex-api-server {AppInfo.Version} listening on {app.Address()} (data: {settings.DataDir})");
    if (settings.FirstRun)
    {
        Console.WriteLine($"First start: set up at {app.Address()}/setup (from this machine)");
    }
    await app.WaitForShutdownAsync();
    return 0;
}
catch (StartupException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}
