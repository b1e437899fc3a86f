namespace McpTunnel.Gateway.Upstream;

/// <summary>The TCP connect did not finish within <c>appliance.upstream_connect_timeout</c>: the caller gets 504.</summary>
public sealed class UpstreamConnectTimeoutException(string message) : UpstreamDialException(message);
