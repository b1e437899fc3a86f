using System.Globalization;

namespace McpTunnel.Configuration;

/// <summary>A route's upstream, exactly <c>scheme://host:port</c> (spec 2.3 and open question 18).</summary>
public sealed record UpstreamTarget(string Scheme, string Host, int Port)
{
    /// <summary>The proxy's own error text; users grep for it (spec 6.3).</summary>
    public const string InvalidUpstream = "invalid upstream (must be scheme://host:port)";

    public bool IsHttps => Scheme == "https";

    /// <summary>The prefix handed to the forwarder; the request's path and query are appended unchanged.</summary>
    public string DestinationPrefix => $"{Scheme}://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}";

    public override string ToString() => DestinationPrefix;

    /// <summary>Parses a route value; on failure <paramref name="reason"/> says what is wrong and how to fix it.</summary>
    public static bool TryParse(string text, out UpstreamTarget? target, out string? reason)
    {
        target = null;
        reason = null;
        var separator = text.IndexOf("://", StringComparison.Ordinal);
        if (separator <= 0)
        {
            reason = "no scheme; write it as http://host:port or https://host:port";
            return false;
        }

        var scheme = text[..separator].ToLowerInvariant();
        if (scheme is not ("http" or "https"))
        {
            reason = $"scheme \"{text[..separator]}\" is not supported; use http or https";
            return false;
        }

        var authority = text[(separator + 3)..];
        var extra = authority.IndexOfAny(['/', '?', '#']);
        if (extra >= 0)
        {
            reason = authority[extra] == '/'
                ? "it has a path; routes take no path, put the path (for example /mcp) in the client URL instead"
                : "it has a query or fragment; routes take only scheme://host:port";
            return false;
        }

        if (authority.Contains('@', StringComparison.Ordinal))
        {
            reason = "it has user information; credentials do not belong in a route";
            return false;
        }

        string host;
        string portText;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= authority.Length || authority[close + 1] != ':')
            {
                reason = "the port is missing; add it explicitly, for example :443 or :8080";
                return false;
            }

            host = authority[1..close];
            portText = authority[(close + 2)..];
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            if (colon < 0)
            {
                reason = "the port is missing; add it explicitly, for example :443 or :8080";
                return false;
            }

            host = authority[..colon];
            portText = authority[(colon + 1)..];
        }

        if (host.Length == 0)
        {
            reason = "the host is empty";
            return false;
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            reason = $"port \"{portText}\" is not a number from 1 to 65535";
            return false;
        }

        target = new UpstreamTarget(scheme, host.ToLowerInvariant(), port);
        return true;
    }
}
