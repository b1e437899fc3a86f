using System.Net;

namespace McpTunnel.Gateway.Upstream;

/// <summary>The upstream resolved to an address outside <c>upstream.allowed_ips</c>: the caller gets 502.</summary>
public sealed class UpstreamIpRejectedException(IPAddress address)
    : UpstreamDialException($"IP validation failed: {address} is not a private address")
{
    public IPAddress Address { get; } = address;
}
