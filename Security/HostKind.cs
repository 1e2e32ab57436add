namespace CodexApiServer.Security;

/// <summary>What a request's <c>Host</c> (or a browser's <c>Origin</c>) says about where it was meant to go.</summary>
public enum HostKind
{
    /// <summary>A name of this machine: loopback, the configured host, or an allowedHosts entry.</summary>
    Local,

    /// <summary>The tunnel's public name, or an IP address of this machine's network (LAN use with --host 0.0.0.0).</summary>
    External,

    /// <summary>Any other name: a DNS-rebinding page, or a proxy nobody allowed.</summary>
    Refused,
}
