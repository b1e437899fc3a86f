using System.Net;
using System.Net.Sockets;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace McpTunnel.Operations;

/// <summary>
/// For <c>config validate</c>: routes whose upstream the IP policy refuses, so every request to them would get
/// 502. An IP literal is checked as written; a host name is resolved here (IPv4, as the gateway dials) within a
/// short timeout, and a name that does not resolve is a warning too, since the gateway's view may differ from
/// this host's (decision 0010). Warnings only: the file is valid, the route just cannot work as it stands.
/// </summary>
public static class RoutePolicyWarnings
{
    public static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(2);

    public static async Task<List<ConfigProblem>> CheckAsync(GatewayConfig config, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null, CancellationToken cancellationToken = default)
    {
        var warnings = new List<ConfigProblem>();
        var policy = new UpstreamIpPolicy(config.Upstream);
        if (policy.Disabled)
        {
            return warnings;
        }

        // The gateway's own lookup (A records only, an IP literal as it is), so the addresses checked here are the
        // ones it would check; nothing is dialled.
        var connector = new UpstreamConnector(policy, config.Appliance.UpstreamConnectTimeout, new GatewayMetrics(), NullLogger.Instance, resolve);
        foreach (var (name, upstream) in config.Routes.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            var field = $"routes.{name}";
            IPAddress[] addresses;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(ResolveTimeout);
                try
                {
                    addresses = await connector.LookupAsync(upstream.Host, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is UpstreamDialException { InnerException: SocketException } or OperationCanceledException)
                {
                    var reason = ex is OperationCanceledException ? $"no answer within {ResolveTimeout.TotalSeconds:0}s" : ex.InnerException!.Message;
                    warnings.Add(Warning(config, field, $"cannot resolve {upstream.Host} from this host ({reason}); the gateway resolves it for each new upstream connection, and a name it cannot resolve gets 502"));
                    continue;
                }
                catch (UpstreamDialException)
                {
                    warnings.Add(Warning(config, field, $"{upstream.Host} has no IPv4 address; upstreams are dialled over IPv4 only, so every request to this route gets 502"));
                    continue;
                }
            }

            var resolved = IPAddress.TryParse(upstream.Host.Trim('[', ']'), out _) ? "" : $"{upstream.Host} resolves to {string.Join(", ", addresses.Select(a => a.ToString()))}; ";
            var refused = addresses.Where(a => !policy.IsAllowed(a)).ToList();
            if (refused.Count == 0)
            {
                continue;
            }

            var entries = string.Join(", ", refused.Select(a => $"{(a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)}/32"));
            var replaces = config.Upstream.AllowedIpsConfigured
                ? ""
                : $" (setting it replaces the default, so list the networks you still use too: allowed_ips: [{string.Join(", ", Ipv4Cidr.Rfc1918)}, {entries}])";
            warnings.Add(Warning(config, field,
                $"{resolved}the IP policy refuses {string.Join(", ", refused)} (allowed: {policy.Description}), so every request to this route gets 502 (the log says IP validation failed). Add {entries} to upstream.allowed_ips{replaces}"));
        }

        return warnings;
    }

    private static ConfigProblem Warning(GatewayConfig config, string field, string message) =>
        new(config.SourcePath, 0, 0, field, message, IsWarning: true);
}
