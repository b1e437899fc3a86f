namespace McpTunnel.Gateway.Upstream;

/// <summary>The TLS handshake with an https upstream failed (certificate refused, protocol): the caller gets 502.</summary>
public sealed class UpstreamTlsException(string message, Exception inner) : UpstreamDialException(message, inner);
