using System.Net;

namespace McpTunnel.Gateway.Transport;

/// <summary>What the inner HTTP request can learn about the WebSocket that carries it.</summary>
public interface ITunnelFeature
{
    /// <summary>The address of the peer of the outer WebSocket (cloudflared), for <c>X-Forwarded-For</c>.</summary>
    IPAddress? OuterRemoteAddress { get; }
}
