using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using System.Runtime.InteropServices;
using System.Text;
using CodexApiServer.Hosting;
using CodexApiServer.Tests.Support;
using CodexApiServer.Tunnel;

namespace CodexApiServer.Tests.Tunnel;

public sealed class TunnelInstallTests
{
    /// <summary>A release server on loopback: serves <paramref name="content"/> for any path, half of it at once and the rest when <paramref name="release"/> completes.</summary>
    internal static async Task<(WebApplication App, Uri Base, List<string> Requests)> StartReleaseServerAsync(byte[]? content, Task release)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var requests = new List<string>();
        app.MapGet("/{asset}", async (string asset, HttpResponse response) =>
        {
            lock (requests)
            {
                requests.Add(asset);
            }
            if (content is null)
            {
                response.StatusCode = 404;
                return;
            }
            response.ContentLength = content.Length;
            response.ContentType = "application/octet-stream";
            var half = content.Length / 2;
            await response.Body.WriteAsync(content.AsMemory(0, half));
            await response.Body.FlushAsync();
            await release;
            await response.Body.WriteAsync(content.AsMemory(half));
        });
        await app.StartAsync();
        return (app, new Uri(app.Address() + "/"), requests);
    }

    private static Task<TestServer> StartServerAsync(Uri downloadBase) =>
        TestServer.StartAsync(beforeStart: app => app.Services.GetRequiredService<TunnelOptions>().DownloadBaseUrl = downloadBase.ToString());

    [Fact]
    public async Task Install_downloads_the_release_asset_into_the_data_folder_reports_progress_and_the_tunnel_then_uses_it()
    {
        Assert.Null(CodexApiServer.Providers.CliProbe.Locate(null, "cloudflared")); // this test needs a machine without cloudflared on PATH
        var fake = FakeCloudflared.Create();
        // Padded so the download has a visible middle; the shell ignores the trailing comment.
        var content = Encoding.UTF8.GetBytes("#!/bin/sh\n" + fake.ScriptText.Replace("#!/bin/sh\n", "") + "\n#" + new string('x', 200_000) + "\n");
        var release = new TaskCompletionSource();
        var (releaseServer, baseUrl, requests) = await StartReleaseServerAsync(content, release.Task);
        await using var _ = releaseServer;
        await using var server = await StartServerAsync(baseUrl);
        var before = await TunnelAssert.StatusAsync(server);
        Assert.False(before["cloudflared"]!["found"]!.GetValue<bool>());

        var (response, accepted) = await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/install");
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("downloading", accepted!["install"]!.Str("state"));

        var midway = await TunnelAssert.WaitForAsync(server, s => s["install"]!["bytes_downloaded"]!.GetValue<long>() >= content.Length / 2);
        var install = midway["install"]!;
        Assert.Equal("downloading", install.Str("state"));
        Assert.Equal(content.Length, install["bytes_total"]!.GetValue<long>());
        Assert.True(install["bytes_downloaded"]!.GetValue<long>() < content.Length);
        var expectedAsset = RuntimeInformation.OSArchitecture == Architecture.Arm64 ? "cloudflared-linux-arm64" : "cloudflared-linux-amd64";
        Assert.Equal(baseUrl + expectedAsset, install.Str("source"));

        release.SetResult();
        var done = await TunnelAssert.WaitForAsync(server, s => s["install"]!.Str("state") is "installed" or "failed");
        install = done["install"]!;
        Assert.Equal("installed", install.Str("state"));
        var target = Path.Combine(server.DataDir, "bin", "cloudflared");
        Assert.Equal(target, install.Str("path"));
        Assert.Equal(FakeCloudflared.Version, install.Str("version"));
        Assert.Equal(content.Length, install["bytes_downloaded"]!.GetValue<long>());
        Assert.Equal(content, await File.ReadAllBytesAsync(target));
        Assert.True(File.GetUnixFileMode(target).HasFlag(UnixFileMode.UserExecute));
        Assert.Equal([expectedAsset], requests);
        Assert.Equal(["cloudflared"], Directory.GetFiles(Path.Combine(server.DataDir, "bin")).Select(Path.GetFileName));
        Assert.True(done["cloudflared"]!["found"]!.GetValue<bool>());
        Assert.Equal(target, done["cloudflared"]!.Str("path"));

        await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/start");
        var running = await TunnelAssert.WaitForStateAsync(server, "running");
        Assert.Equal(fake.QuickUrl, running.Str("url"));
    }

    [Fact]
    public async Task A_failed_download_is_reported_and_leaves_nothing_behind()
    {
        var (releaseServer, baseUrl, _) = await StartReleaseServerAsync(null, Task.CompletedTask);
        await using var _ = releaseServer;
        await using var server = await StartServerAsync(baseUrl);
        await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/install");
        var done = await TunnelAssert.WaitForAsync(server, s => s["install"]!.Str("state") is "installed" or "failed");
        Assert.Equal("failed", done["install"]!.Str("state"));
        Assert.Contains("HTTP 404", done["install"]!.Str("error"));
        Assert.Empty(Directory.GetFiles(Path.Combine(server.DataDir, "bin")));
    }

    [Fact]
    public async Task A_download_that_does_not_run_is_not_installed()
    {
        var (releaseServer, baseUrl, _) = await StartReleaseServerAsync(Encoding.UTF8.GetBytes("#!/bin/sh\necho broken >&2\nexit 3\n"), Task.CompletedTask);
        await using var _ = releaseServer;
        await using var server = await StartServerAsync(baseUrl);
        await server.SendJsonAsync(HttpMethod.Post, "/admin/tunnel/install");
        var done = await TunnelAssert.WaitForAsync(server, s => s["install"]!.Str("state") is "installed" or "failed");
        Assert.Equal("failed", done["install"]!.Str("state"));
        Assert.Contains("does not run on this machine", done["install"]!.Str("error"));
        Assert.Empty(Directory.GetFiles(Path.Combine(server.DataDir, "bin")));
        Assert.False(done["cloudflared"]!["found"]!.GetValue<bool>());
    }

    [Fact]
    public async Task The_macOS_tarball_is_unpacked()
    {
        var dir = TempDir.Create("tgz");
        var tgz = Path.Combine(dir, "cloudflared-darwin-arm64.tgz");
        var payload = Encoding.UTF8.GetBytes("binary payload");
        await using (var file = File.Create(tgz))
        await using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        await using (var tar = new TarWriter(gzip))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "cloudflared") { DataStream = new MemoryStream(payload) };
            await tar.WriteEntryAsync(entry);
        }
        var output = Path.Combine(dir, "out");
        await CloudflaredInstaller.ExtractAsync(tgz, output, CancellationToken.None);
        Assert.Equal(payload, await File.ReadAllBytesAsync(output));
        TempDir.Delete(dir);
    }

    [Fact]
    public void Release_assets_match_the_published_names()
    {
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal("cloudflared-linux-amd64", Cloudflared.AssetName(Architecture.X64));
            Assert.Equal("cloudflared-linux-arm64", Cloudflared.AssetName(Architecture.Arm64));
        }
        Assert.Null(Cloudflared.AssetName(Architecture.Wasm));
    }
}
