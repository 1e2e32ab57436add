using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace CodexApiServer.Providers.Codex;

/// <summary>
/// The certificates codex trusts through `SSL_CERT_FILE` and `SSL_CERT_DIR`, in one file. codex (0.169) builds a new
/// HTTPS client for every model request, and each build opens `SSL_CERT_FILE` and every file in `SSL_CERT_DIR`
/// (~300 in Debian's /etc/ssl/certs), ~6 ms of every turn here. When `SSL_CERT_DIR` is set, codex gets
/// `SSL_CERT_FILE` naming this file, which holds `SSL_CERT_FILE` as it is and then each certificate of the directory
/// not in it, and no `SSL_CERT_DIR`: it trusts the same certificates and opens one file. The file is written again
/// when a source changes (checked before each turn; codex reads it afresh on each request). When a source cannot
/// be read, or a certificate in the directory does not parse, codex gets the variables as they are.
/// </summary>
internal sealed partial class CodexCertificates(string dataDir, IReadOnlyDictionary<string, string?>? environment, ILogger logger)
{
    private const string FileVariable = "SSL_CERT_FILE";
    private const string DirVariable = "SSL_CERT_DIR";

    private readonly object _gate = new();
    private Stamp? _checked;
    private bool _written;

    public string BundlePath => Path.Combine(dataDir, "codex-ca-certificates.pem");

    /// <summary>
    /// The environment for codex: <c>environment</c> with `SSL_CERT_FILE` set to the bundle and `SSL_CERT_DIR` removed
    /// when the bundle could be written, else <c>environment</c> as it is.
    /// </summary>
    public IReadOnlyDictionary<string, string?>? Environment()
    {
        if (!Refresh())
        {
            return environment;
        }
        var merged = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>(), StringComparer.Ordinal)
        {
            [FileVariable] = BundlePath,
            [DirVariable] = null,
        };
        return merged;
    }

    /// <summary>Writes the bundle again if a source changed since it was written; false when codex should get the variables as they are.</summary>
    public bool Refresh()
    {
        var (file, dir) = (Effective(FileVariable), Effective(DirVariable));
        if (string.IsNullOrEmpty(dir))
        {
            return false;
        }
        lock (_gate)
        {
            Stamp stamp;
            try
            {
                stamp = Stamp.Of(file, dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return _written;
            }
            if (stamp == _checked)
            {
                return _written;
            }
            _checked = stamp;
            try
            {
                var (text, certificates, files) = Read(file, dir);
                Directory.CreateDirectory(dataDir);
                var temporary = BundlePath + ".tmp";
                File.WriteAllText(temporary, text);
                File.Move(temporary, BundlePath, overwrite: true);
                LogWritten(logger, certificates, files, BundlePath);
                _written = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // Codex keeps the last bundle written (its sources were readable then); with none, it reads its sources itself.
                LogNotWritten(logger, e.Message, _written ? "keeps the last file written" : "reads them itself");
            }
            return _written;
        }
    }

    /// <summary>The variable as codex would see it: ours unless the provider's environment sets or removes it.</summary>
    private string? Effective(string name) =>
        environment is not null && environment.TryGetValue(name, out var value) ? value : System.Environment.GetEnvironmentVariable(name);

    /// <summary>
    /// The file as it is, then each certificate of a regular file in the directory (links followed) that is not
    /// in it yet. Codex reads the file as its custom CA bundle too, so it sees the file's own blocks as before; a
    /// certificate added from the directory that does not parse throws, as it would fail codex's loader there (one
    /// the file has already is not parsed again: codex loads it from the file as before).
    /// </summary>
    internal static (string Text, int Certificates, int Files) Read(string? file, string dir)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var text = new StringBuilder();
        var files = 0;
        if (!string.IsNullOrEmpty(file))
        {
            var original = File.ReadAllText(file);
            text.Append(original);
            if (original.Length > 0 && original[^1] != '\n')
            {
                text.Append('\n');
            }
            seen.UnionWith(Certificates(original, file));
            files++;
        }
        foreach (var entry in Directory.EnumerateFileSystemEntries(dir).Order(StringComparer.Ordinal))
        {
            // A folder, or a link to one or to nothing, is skipped, as codex skips it.
            var info = new FileInfo(entry);
            if (!info.Exists || (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo { Exists: true }))
            {
                continue;
            }
            files++;
            foreach (var body in Certificates(File.ReadAllText(entry), entry))
            {
                if (seen.Add(body))
                {
                    text.Append(PemEncoding.WriteString("CERTIFICATE", Parsed(body, entry))).Append('\n');
                }
            }
        }
        return (text.ToString(), seen.Count, files);
    }

    /// <summary>The base64 body of each CERTIFICATE block, whitespace removed; other blocks are skipped, as codex skips them.</summary>
    private static IEnumerable<string> Certificates(string pem, string source)
    {
        const string Begin = "-----BEGIN CERTIFICATE-----", End = "-----END CERTIFICATE-----";
        var at = 0;
        while ((at = pem.IndexOf(Begin, at, StringComparison.Ordinal)) >= 0)
        {
            var bodyAt = at + Begin.Length;
            var endAt = pem.IndexOf(End, bodyAt, StringComparison.Ordinal);
            if (endAt < 0)
            {
                throw new FormatException($"{source}: a certificate has no END line");
            }
            yield return string.Concat(pem.AsSpan(bodyAt, endAt - bodyAt).ToString().Where(c => !char.IsWhiteSpace(c)));
            at = endAt + End.Length;
        }
    }

    /// <summary>The certificate's DER bytes once .NET has parsed them as X.509; a FormatException names the file otherwise.</summary>
    private static byte[] Parsed(string body, string source)
    {
        try
        {
            var der = Convert.FromBase64String(body);
            X509CertificateLoader.LoadCertificate(der).Dispose();
            return der;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            throw new FormatException($"{source}: a certificate does not parse ({e.Message})", e);
        }
    }

    /// <summary>What says a source changed: the file's size and time, the directory's time (an added or removed file changes it).</summary>
    private sealed record Stamp(long FileLength, DateTime FileWritten, DateTime DirWritten)
    {
        public static Stamp Of(string? file, string dir)
        {
            var info = string.IsNullOrEmpty(file) ? null : new FileInfo(file);
            if (info?.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            }
            if (info is { Exists: false } || !Directory.Exists(dir))
            {
                throw new IOException("a certificate source is missing");
            }
            return new Stamp(info?.Length ?? 0, info?.LastWriteTimeUtc ?? default, Directory.GetLastWriteTimeUtc(dir));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Codex gets the {Certificates} certificates of SSL_CERT_FILE and SSL_CERT_DIR ({Files} files, which it would read on every model request) as one file, {Path}")]
    private static partial void LogWritten(ILogger logger, int certificates, int files, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The certificates of SSL_CERT_FILE and SSL_CERT_DIR could not be put in one file ({Reason}): codex {Outcome}")]
    private static partial void LogNotWritten(ILogger logger, string reason, string outcome);
}
