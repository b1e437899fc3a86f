using Microsoft.AspNetCore.Connections;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// The gateway closed a connection itself, for a reason it reports on its own: a limit or a deadline
/// (<see cref="ConnectionGovernor"/>, counted and logged, throttled) or a WebSocket text message (its own line). A TLS
/// handshake this interrupts is not a handshake failure worth a line of its own: one per closed connection would let
/// a flood flood the log, and the words would be wrong.
/// </summary>
public sealed class ClosedByGatewayException(string message) : ConnectionAbortedException(message)
{
    /// <summary>True when <paramref name="exception"/> or one of its inner exceptions is one.</summary>
    public static bool IsCause(Exception? exception) => ExceptionChain.Find<ClosedByGatewayException>(exception) is not null;
}
