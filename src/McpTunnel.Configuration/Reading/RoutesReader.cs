using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary><c>routes:</c>, the proxy's mapping of subdomain (or full host name) to upstream.</summary>
internal static class RoutesReader
{
    /// <summary>
    /// The routes by lower-case key; null when the section cannot be used. <paramref name="valueNodes"/> receives
    /// each route's value node, so a later check (an https upstream without a trust anchor) can point at it.
    /// </summary>
    public static Dictionary<string, UpstreamTarget>? Read(YamlSection top, string tunnelDomain, Dictionary<string, YamlNode> valueNodes)
    {
        var context = top.Context;
        if (top.Value("routes") is not { } routesNode)
        {
            context.Error(null, "routes", "is required: a mapping of subdomain (or full host name) to upstream, for example `routes: { echo: http://10.0.0.5:9000 }`");
            return null;
        }

        var routes = new Dictionary<string, UpstreamTarget>(StringComparer.Ordinal);
        switch (routesNode)
        {
            case YamlSequenceNode:
                context.Error(routesNode, "routes", "cannot unmarshal !!seq into map[string]string: routes is a mapping, not a list; write `routes: { name: http://host:port }`");
                return null;
            case YamlScalarNode { Value: null or "" }:
            case YamlMappingNode { Children.Count: 0 }:
                context.Warn(routesNode, "routes", "no routes are configured; every request will get 502 No route configured for host");
                return routes;
            case YamlScalarNode:
                context.Error(routesNode, "routes", "must be a mapping of subdomain to upstream, not a single value");
                return null;
        }

        var bareLabelWarned = false;
        foreach (var (keyNode, valueNode) in ((YamlMappingNode)routesNode).Children)
        {
            var rawKey = (keyNode as YamlScalarNode)?.Value ?? "";
            var key = rawKey.Trim().TrimEnd('.').ToLowerInvariant();
            var path = $"routes.{rawKey}";
            if (key.Length == 0)
            {
                context.Error(keyNode, "routes", "a route key is empty; use a subdomain such as echo or a full host name");
                continue;
            }

            if (key.Contains('*', StringComparison.Ordinal) || key.Contains('/', StringComparison.Ordinal) || key.Contains(':', StringComparison.Ordinal))
            {
                context.Error(keyNode, path, "a route key is a subdomain or host name only: no wildcard, port, scheme or path");
                continue;
            }

            if (HostNames.Problem(key) is { } hostProblem)
            {
                context.Error(keyNode, path, $"route key {hostProblem}");
                continue;
            }

            if (valueNode is not YamlScalarNode { Value: { } value })
            {
                context.Error(valueNode, path, $"cannot unmarshal {(valueNode is YamlSequenceNode ? "!!seq" : "!!map")} into string: the upstream is a single scheme://host:port value");
                continue;
            }

            if (!UpstreamTarget.TryParse(value.Trim(), out var target, out var reason))
            {
                context.Error(valueNode, path, $"{UpstreamTarget.InvalidUpstream}: \"{value}\": {reason}");
                continue;
            }

            if (!routes.TryAdd(key, target!))
            {
                context.Error(keyNode, path, $"duplicate route \"{key}\" (route keys are case-insensitive)");
                continue;
            }

            valueNodes[key] = valueNode;

            if (target!.Host.Contains(':', StringComparison.Ordinal))
            {
                context.Warn(valueNode, path, "an IPv6 upstream can never be dialled: the gateway reaches upstreams over IPv4 only");
            }

            if (tunnelDomain.Length == 0 && !key.Contains('.', StringComparison.Ordinal) && !bareLabelWarned)
            {
                bareLabelWarned = true;
                context.Warn(keyNode, path, "is a bare subdomain but tunnel_domain is empty, so it only matches a request for the host name exactly; set tunnel_domain (or pass -tunnel-domain)");
            }
        }

        return routes;
    }
}
