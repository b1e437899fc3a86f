using Microsoft.AspNetCore.Connections;

namespace McpTunnel.Gateway;

/// <summary>
/// The gateway closed a connection itself to stay within its limits or deadlines (<see cref="ConnectionGovernor"/>).
/// Such a close is counted and logged, throttled, by the governor; a TLS handshake it interrupts is not a handshake
/// failure worth a line of its own (one per shed connection would let a flood flood the log).
/// </summary>
public sealed class ConnectionShedException(string message) : ConnectionAbortedException(message)
{
    /// <summary>True when <paramref name="exception"/> or one of its inner exceptions is a shed.</summary>
    public static bool IsCause(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is ConnectionShedException)
            {
                return true;
            }
        }

        return false;
    }
}
