namespace CodexApiServer.Tunnel;

/// <summary>Timings and the download source. Not in config.json: tests shorten them, users have no reason to.</summary>
internal sealed class TunnelOptions
{
    public const string ReleaseDownloadBase = "https://github.com/cloudflare/cloudflared/releases/latest/download/";

    /// <summary>How long cloudflared may take to report a usable tunnel before the attempt counts as failed.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First restart delay; each further failure in a row doubles it, up to <see cref="RestartMaxDelay"/>.</summary>
    public TimeSpan RestartBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan RestartMaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Where release assets are fetched from (ends with '/').</summary>
    public string DownloadBaseUrl { get; set; } = ReleaseDownloadBase;

    public TimeSpan DownloadTimeout { get; set; } = TimeSpan.FromMinutes(10);
}
