using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>What the setup page shows: each CLI with the exact command that fixes what is wrong, and the port.</summary>
public static class AdminSetupApi
{
    public static RouteGroupBuilder MapAdminSetup(this RouteGroupBuilder admin)
    {
        admin.MapGet("/setup", Get).WithSummary("Each CLI's state with the exact install or login command, the port and the base URL").Produces<SetupStatus>();
        return admin;
    }

    private static JsonHttpResult<SetupStatus> Get(HttpContext context, CliProbe probe, ServerSettings settings) =>
        TypedResults.Json(new SetupStatus([Cli(probe.Codex, "Codex CLI"), Cli(probe.Claude, "Claude Code")], context.Connection.LocalPort, settings.Config.Port, settings.Config.DefaultModel),
            ApiJsonContext.Wire.SetupStatus);

    private static SetupCli Cli(CliStatus status, string label)
    {
        var install = CliProbe.InstallHint(status.Name);
        var login = CliProbe.LoginHint(status.Name);
        var (state, next) = !status.Found ? ("missing", $"Install: {install}")
            : status.LoggedIn == false ? ("logged_out", $"Log in on this machine: {login}")
            : status.LoggedIn == true ? ("ready", "Ready")
            : ("checking", "Checking…");
        return new SetupCli(status.Name, label, state, status.Found, status.Version, status.Path, status.LoggedIn, status.Login, install, login, next, status.Error);
    }
}

/// <param name="State">"missing", "logged_out", "ready" or "checking" (the probe has not finished).</param>
/// <param name="NextStep">The sentence to show, with the command in it.</param>
public sealed record SetupCli(string Name, string Label, string State, bool Found, string? Version, string? Path, bool? LoggedIn, string? Login,
    string InstallCommand, string LoginCommand, string NextStep, string? Error);

/// <param name="ListeningPort">The port this server listens on now; <paramref name="ConfiguredPort"/> takes effect at the next start.</param>
public sealed record SetupStatus(IReadOnlyList<SetupCli> Clis, int ListeningPort, int ConfiguredPort, string DefaultModel);
