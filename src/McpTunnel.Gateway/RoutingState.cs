using McpTunnel.Configuration;

namespace McpTunnel.Gateway;

/// <summary>Everything a reload can change, swapped as one object so a request never sees half of it.</summary>
internal sealed record RoutingState(RouteTable Routes, UpstreamIpPolicy Policy, UpstreamTrust Trust)
{
    public static RoutingState From(GatewayConfig config) =>
        new(new RouteTable(config.Routes, config.TunnelDomain), new UpstreamIpPolicy(config.Upstream), new UpstreamTrust(config.Upstream));
}
