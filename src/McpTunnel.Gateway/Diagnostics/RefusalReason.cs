namespace McpTunnel.Gateway.Diagnostics;

/// <summary>Why the gateway refused a new connection or WebSocket; the metric's <c>reason</c> label.</summary>
public enum RefusalReason
{
    ConnectionLimit,
    SessionLimit,
}
