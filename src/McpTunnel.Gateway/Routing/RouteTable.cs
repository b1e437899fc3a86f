using System.Collections.Frozen;
using McpTunnel.Configuration;

namespace McpTunnel.Gateway.Routing;

/// <summary>
/// Host-based routing (spec 2.3, open question 7): the exact full host name first, else the host with
/// <c>.tunnel_domain</c> stripped; case-insensitive, port and trailing dot ignored, no wildcards. A
/// multi-label remainder ("a.b") is looked up literally.
/// </summary>
public sealed class RouteTable
{
    private readonly FrozenDictionary<string, Route> _routes;
    private readonly string _suffix;

    public RouteTable(IReadOnlyDictionary<string, UpstreamTarget> routes, string tunnelDomain)
    {
        _routes = routes.ToFrozenDictionary(
            r => r.Key,
            r => new Route(r.Key, r.Value),
            StringComparer.OrdinalIgnoreCase);
        _suffix = tunnelDomain.Length == 0 ? "" : "." + tunnelDomain;
    }

    public IEnumerable<Route> Routes => _routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal);

    /// <summary>Finds the route for a request's host (which may carry a port).</summary>
    public bool TryResolve(ReadOnlySpan<char> host, out Route route)
    {
        host = NormalizeHost(host);
        var lookup = _routes.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(host, out route!))
        {
            return true;
        }

        if (_suffix.Length > 0 && host.Length > _suffix.Length && host.EndsWith(_suffix, StringComparison.OrdinalIgnoreCase))
        {
            return lookup.TryGetValue(host[..^_suffix.Length], out route!);
        }

        return false;
    }

    /// <summary>
    /// False for a Host the gateway refuses with 400: one with a character outside ASCII, or a punycode label
    /// (<c>xn--</c>) that does not decode. Routing compares the ASCII form as received, so a route key
    /// <c>xn--bcher-kva</c> matches the Host <c>xn--bcher-kva.…</c> and never its Unicode form.
    /// </summary>
    public static bool IsValidHost(ReadOnlySpan<char> host)
    {
        if (!System.Text.Ascii.IsValid(host))
        {
            return false;
        }

        host = NormalizeHost(host);
        if (host.StartsWith("[") || host.IndexOf("xn--", StringComparison.OrdinalIgnoreCase) < 0)
        {
            return true;
        }

        foreach (var range in host.Split('.'))
        {
            var label = host[range];
            if (label.StartsWith("xn--", StringComparison.OrdinalIgnoreCase))
            {
                try
                {
                    // A new mapping each time: instance members are not documented as thread-safe.
                    new System.Globalization.IdnMapping().GetUnicode(label.ToString());
                }
                catch (ArgumentException)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>Strips the port (also from a bracketed IPv6 literal) and a trailing dot.</summary>
    public static ReadOnlySpan<char> NormalizeHost(ReadOnlySpan<char> host)
    {
        if (host.StartsWith("["))
        {
            var close = host.IndexOf(']');
            host = close > 0 ? host[..(close + 1)] : host;
        }
        else
        {
            var colon = host.LastIndexOf(':');
            if (colon >= 0 && host[..colon].IndexOf(':') < 0)
            {
                host = host[..colon];
            }
        }

        return host.TrimEnd('.');
    }
}
