using McpTunnel.Configuration;

namespace McpTunnel.Gateway.Routing;

/// <summary>One configured route: its key and where it goes.</summary>
public sealed record Route(string Name, UpstreamTarget Upstream)
{
    /// <summary><c>scheme://host:port</c>, built once instead of on every request.</summary>
    public string DestinationPrefix { get; } = Upstream.DestinationPrefix;
}
