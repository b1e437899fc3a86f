using System.Globalization;
using System.Net;

namespace McpTunnel.Configuration;

/// <summary>
/// A Go-style <c>host:port</c> listen address. An empty host (":8080") means every interface, as
/// <c>net.Listen</c> does; a name such as <c>localhost</c> is resolved when the listener binds.
/// </summary>
public sealed record ListenAddress(string Host, int Port)
{
    public bool IsAnyInterface => Host.Length == 0 || Host is "0.0.0.0" or "::";

    /// <summary>True when only processes on this host can connect.</summary>
    public bool IsLoopbackOnly =>
        Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ||
        (IPAddress.TryParse(Host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>
    /// Where a process on this host connects to reach the listener: every-interface and <c>localhost</c>
    /// listeners are bound to IPv4 loopback, so they are reached at 127.0.0.1; IPv6 hosts are bracketed.
    /// </summary>
    public string DialAuthority
    {
        get
        {
            var host = IsAnyInterface || Host.Equals("localhost", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" : Host;
            return host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{Port}" : $"{host}:{Port}";
        }
    }

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public static bool TryParse(string text, out ListenAddress? address, out string? reason)
    {
        address = null;
        reason = null;
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            reason = "missing port; write host:port, for example \":8080\" or \"127.0.0.1:8080\"";
            return false;
        }

        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            reason = "an IPv6 address must be written in brackets, for example \"[::1]:8080\"";
            return false;
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            reason = $"port \"{text[(colon + 1)..]}\" is not a number from 0 to 65535";
            return false;
        }

        address = new ListenAddress(host, port);
        return true;
    }
}
