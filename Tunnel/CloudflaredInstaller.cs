using System.ComponentModel;
using System.Formats.Tar;
using System.IO.Compression;
using System.Runtime.InteropServices;
using CodexApiServer.Children;
using CodexApiServer.Hosting;

namespace CodexApiServer.Tunnel;

/// <summary>
/// Downloads the official cloudflared release for this OS and CPU into &lt;data&gt;/bin, checks that it
/// runs, then moves it into place. Runs in the background; <see cref="Status"/> reports the progress.
/// </summary>
internal sealed partial class CloudflaredInstaller(
    ServerSettings settings, ChildProcesses children, TunnelOptions options, IHostApplicationLifetime lifetime, ILogger<CloudflaredInstaller> logger)
{
    private static readonly TimeSpan VersionTimeout = TimeSpan.FromSeconds(20);

    private readonly Lock _lock = new();
    private volatile TunnelInstallStatus? _status;
    private Task? _running;

    public TunnelInstallStatus? Status => _status;

    /// <summary>Starts a download unless one is under way. Returns an error sentence when this platform has no release.</summary>
    public string? Begin()
    {
        lock (_lock)
        {
            if (_running is { IsCompleted: false })
            {
                return null;
            }
            if (Cloudflared.AssetName(RuntimeInformation.OSArchitecture) is not { } asset)
            {
                return $"Cloudflare publishes no cloudflared release for {RuntimeInformation.OSDescription} on {RuntimeInformation.OSArchitecture}; {Cloudflared.InstallHint()}";
            }
            var source = options.DownloadBaseUrl.TrimEnd('/') + "/" + asset;
            _status = new TunnelInstallStatus("downloading", source, 0, null, null, null, null, DateTimeOffset.UtcNow, null);
            _running = Task.Run(() => InstallAsync(source, asset.EndsWith(".tgz", StringComparison.Ordinal), lifetime.ApplicationStopping));
            return null;
        }
    }

    /// <summary>Waits for the current download, if any (tests and shutdown).</summary>
    public Task WaitAsync() => _running ?? Task.CompletedTask;

    private async Task InstallAsync(string source, bool isTarball, CancellationToken stopping)
    {
        var target = Cloudflared.InstalledPath(settings);
        var dir = Path.GetDirectoryName(target)!;
        var download = Path.Combine(dir, $".cloudflared-download-{Guid.NewGuid():N}");
        var unpacked = download + ".bin";
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        cts.CancelAfter(options.DownloadTimeout);
        try
        {
            Directory.CreateDirectory(dir);
            await DownloadAsync(source, download, cts.Token);
            _status = _status! with { State = "verifying" };
            var executable = download;
            if (isTarball)
            {
                await ExtractAsync(download, unpacked, cts.Token);
                executable = unpacked;
            }
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(executable, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            var version = await VersionAsync(executable, cts.Token);
            File.Move(executable, target, overwrite: true);
            _status = _status! with { State = "installed", Path = target, Version = version, FinishedAt = DateTimeOffset.UtcNow };
            LogInstalled(logger, target, version);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or UnauthorizedAccessException or InvalidDataException
            or Win32Exception or TimeoutException or OperationCanceledException or InstallException)
        {
            var reason = e switch
            {
                OperationCanceledException when stopping.IsCancellationRequested => "the server is shutting down",
                OperationCanceledException => $"the download took longer than {options.DownloadTimeout.TotalMinutes:0} minutes",
                HttpRequestException http => $"cannot download {source}: {http.Message}",
                Win32Exception run => $"the downloaded cloudflared does not run on this machine: {run.Message}",
                _ => e.Message,
            };
            _status = _status! with { State = "failed", Error = reason, FinishedAt = DateTimeOffset.UtcNow };
            LogInstallFailed(logger, reason);
        }
        finally
        {
            File.Delete(download);
            File.Delete(unpacked);
        }
    }

    private async Task DownloadAsync(string source, string file, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) }) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd($"codex-api-server/{AppInfo.Version}");
        using var response = await http.GetAsync(source, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InstallException($"cannot download {source}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        var total = response.Content.Headers.ContentLength;
        _status = _status! with { BytesTotal = total };
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, useAsync: true);
        var buffer = new byte[81920];
        long received = 0;
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            received += read;
            _status = _status! with { BytesDownloaded = received };
        }
        if (total is { } expected && received != expected)
        {
            throw new InstallException($"the download of {source} ended after {received} of {expected} bytes");
        }
    }

    /// <summary>The macOS releases are a .tgz holding the single executable.</summary>
    internal static async Task ExtractAsync(string tarball, string destination, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(tarball);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(copyData: false, cancellationToken) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && Path.GetFileName(entry.Name) == "cloudflared")
            {
                await entry.ExtractToFileAsync(destination, overwrite: true, cancellationToken);
                return;
            }
        }
        throw new InstallException("the downloaded archive holds no cloudflared executable");
    }

    private async Task<string> VersionAsync(string executable, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var (exit, stdout) = await children.RunAsync(executable, ["--version"], VersionTimeout, cancellationToken);
                var version = stdout.Trim().Split('\n')[0].Trim();
                return exit == 0 && version.Length > 0
                    ? version
                    : throw new InstallException($"the downloaded cloudflared does not run on this machine (--version exited with {exit})");
            }
            // A file just written can be briefly "busy" for exec while another thread forks; try again.
            catch (Win32Exception) when (attempt < 5)
            {
                await Task.Delay(100 * attempt, cancellationToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Installed cloudflared at {Path} ({Version})")]
    private static partial void LogInstalled(ILogger logger, string path, string version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Installing cloudflared failed: {Reason}")]
    private static partial void LogInstallFailed(ILogger logger, string reason);

    private sealed class InstallException(string message) : Exception(message);
}
