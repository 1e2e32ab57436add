using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CodexApiServer.Providers.Codex;
using CodexApiServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace CodexApiServer.Tests.Providers;

/// <summary>
/// Codex gets SSL_CERT_FILE and SSL_CERT_DIR's certificates as one file (it would read every file of the directory on
/// each model request): the same certificates are trusted, written again when the sources change.
/// </summary>
public sealed class CodexCertificatesTests : IDisposable
{
    private readonly string _dir = TempDir.Create("certs");

    public void Dispose() => TempDir.Delete(_dir);

    private static X509Certificate2 NewCa(string name)
    {
        var request = new CertificateRequest($"CN={name}", ECDsa.Create(ECCurve.NamedCurves.nistP256), HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A server certificate for 127.0.0.1 issued by <paramref name="ca"/>, with its private key.</summary>
    private static X509Certificate2 NewServerCertificate(X509Certificate2 ca)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), [1, 2, 3, 4]);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static int CertificateCount(string pem) => pem.Split("-----BEGIN CERTIFICATE-----").Length - 1;

    [Fact]
    public async Task Real_codex_reaches_an_https_upstream_whose_ca_is_only_in_SSL_CERT_DIR_and_sees_a_ca_added_later_without_a_restart()
    {
        using var unrelated = NewCa("unrelated root");
        using var mockCa = NewCa("mock root");
        using var serverCertificate = NewServerCertificate(mockCa);
        var certFile = Write("bundle.crt", unrelated.ExportCertificatePem() + "\n");
        var certDir = Path.Combine(_dir, "certs");
        Write("certs/unrelated.pem", unrelated.ExportCertificatePem() + "\n");
        await using var mock = await MockResponsesUpstream.StartAsync(serverCertificate);
        Assert.StartsWith("https://127.0.0.1:", mock.BaseUrl);
        var environment = new Dictionary<string, string?>(mock.CodexEnvironment(maxRetries: 0))
        {
            ["SSL_CERT_FILE"] = certFile,
            ["SSL_CERT_DIR"] = certDir,
        };
        await using var codex = CodexHarness.Create(RealClis.Codex, environment);

        // The mock's root is in neither source yet: codex must not trust it.
        var refused = await codex.RunAsync(CodexHarness.Ask("Say hello"));
        Assert.NotNull(Assert.IsType<CodexApiServer.Providers.TurnEnded>(refused[^1]).Error);
        Assert.Empty(mock.Requests);
        var pid = codex.Provider.AppServerPid;
        Assert.NotNull(pid);

        // Installed as c_rehash does: the file and a hash-named link to it.
        var installed = Write("certs/mock-root.pem", mockCa.ExportCertificatePem() + "\n");
        File.CreateSymbolicLink(Path.Combine(certDir, "0a1b2c3d.0"), installed);
        var events = await codex.RunAsync(CodexHarness.Ask("Say hello"));

        Assert.Equal("Hello from the mock.", events.Text());
        events.Completed();
        Assert.Single(mock.Requests);
        Assert.Equal(pid, codex.Provider.AppServerPid);
        var bundlePath = Path.Combine(codex.DataDir, "codex-ca-certificates.pem");
        Assert.Equal(2, CertificateCount(File.ReadAllText(bundlePath)));
        var childEnvironment = File.ReadAllText($"/proc/{pid}/environ").Split('\0');
        Assert.Contains("SSL_CERT_FILE=" + bundlePath, childEnvironment);
        Assert.DoesNotContain(childEnvironment, v => v.StartsWith("SSL_CERT_DIR=", StringComparison.Ordinal));
    }

    [Fact]
    public void The_bundle_is_the_file_as_it_is_then_each_certificate_of_the_directory_not_in_it()
    {
        using var a = NewCa("a");
        using var b = NewCa("b");
        using var c = NewCa("c");
        using var d = NewCa("d");
        var original = a.ExportCertificatePem() + "\n" + b.ExportCertificatePem() + "\n-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----";
        var file = Write("file.crt", original);
        var pemB = Write("certs/b.pem", b.ExportCertificatePem().Replace("\n", "\r\n"));
        File.CreateSymbolicLink(Path.Combine(_dir, "certs", "11111111.0"), pemB);
        Write("certs/c.pem", "# a comment\n" + c.ExportCertificatePem() + "\n" + new string('-', 5) + "BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        Write("certs/README", "not a certificate");
        Write("certs/d.pem", d.ExportCertificatePem().Replace("CERTIFICATE", "TRUSTED CERTIFICATE"));
        Directory.CreateDirectory(Path.Combine(_dir, "certs", "sub"));
        File.CreateSymbolicLink(Path.Combine(_dir, "certs", "22222222.0"), Path.Combine(_dir, "gone.pem"));

        var (text, blocks, _) = CodexCertificates.Read(file, Path.Combine(_dir, "certs"));

        Assert.Equal(3, blocks);
        Assert.StartsWith(original + "\n", text);
        Assert.Equal(3, CertificateCount(text));
        Assert.DoesNotContain("PRIVATE KEY", text);
        Assert.DoesNotContain("TRUSTED", text);
        var loaded = new X509Certificate2Collection();
        loaded.ImportFromPem(text);
        Assert.Equal(new[] { a.Thumbprint, b.Thumbprint, c.Thumbprint }.Order(), loaded.Select(x => x.Thumbprint).Order());
    }

    [Fact]
    public void Without_SSL_CERT_DIR_codex_keeps_its_environment_and_no_file_is_written()
    {
        var environment = new Dictionary<string, string?> { ["SSL_CERT_DIR"] = null, ["MOCK_KEY"] = "x" };
        var certificates = new CodexCertificates(_dir, environment, NullLogger.Instance);

        Assert.Same(environment, certificates.Environment());
        Assert.False(File.Exists(certificates.BundlePath));
    }

    [Fact]
    public void A_certificate_that_does_not_parse_leaves_codex_reading_its_sources_and_says_why()
    {
        using var a = NewCa("a");
        Write("certs/a.pem", a.ExportCertificatePem() + "\n");
        Write("certs/broken.pem", "-----BEGIN CERTIFICATE-----\nQUJDRA==\n-----END CERTIFICATE-----\n");
        var environment = new Dictionary<string, string?> { ["SSL_CERT_DIR"] = Path.Combine(_dir, "certs"), ["SSL_CERT_FILE"] = null };
        var logs = new CapturingLoggerProvider();
        var certificates = new CodexCertificates(Path.Combine(_dir, "data"), environment, logs.CreateLogger("codex"));

        Assert.Same(environment, certificates.Environment());
        Assert.False(File.Exists(certificates.BundlePath));
        Assert.Contains(logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("broken.pem", StringComparison.Ordinal));

        // Mended: the next check writes the bundle (the directory changed).
        File.Delete(Path.Combine(_dir, "certs", "broken.pem"));
        Assert.True(certificates.Refresh());
        Assert.Equal(1, CertificateCount(File.ReadAllText(certificates.BundlePath)));
    }
}
