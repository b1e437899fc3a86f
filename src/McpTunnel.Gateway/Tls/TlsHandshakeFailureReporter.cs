using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Transport;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// Turns Kestrel's own record of a failed inner handshake into our <c>tls handshake failed: reason</c> line
/// and a metric. Kestrel performs the handshake (so HTTP/2 is negotiated by ALPN exactly as on a socket) and
/// reports failures only to its logger at Debug level (events <c>AuthenticationFailed</c> and
/// <c>AuthenticationTimedOut</c> of <c>HttpsConnectionMiddleware</c>); this provider listens to that one
/// category. A test fails if a Kestrel update renames them. See docs/decisions/0002-inner-tls-in-kestrel.md.
/// Anyone who can reach <c>listen_addr</c> can fail handshakes at will, so the line is written at most once every
/// <see cref="LogThrottle.Interval"/> per reason category, with the number held back since (<c>suppressed=</c>); the
/// metric counts every failure.
/// </summary>
internal sealed class TlsHandshakeFailureReporter(GatewayMetrics metrics, TimeProvider time) : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, LogThrottle> _throttles = new();

    public const string KestrelHttpsCategory = "Microsoft.AspNetCore.Server.Kestrel.Https.Internal.HttpsConnectionMiddleware";

    private ILogger _target = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Where the translated line goes; set once the gateway's logger factory exists.</summary>
    public void Attach(ILogger target) => _target = target;

    public ILogger CreateLogger(string categoryName) =>
        categoryName == KestrelHttpsCategory ? new Listener(this) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void Dispose() { }

    private void Report(EventId eventId, Exception? exception)
    {
        if (ClosedByGatewayException.IsCause(exception))
        {
            // The gateway closed this connection itself (a limit or a deadline) and has reported it already.
            return;
        }

        string reason;
        if (eventId.Name == "AuthenticationTimedOut")
        {
            reason = "handshake timed out (the client sent nothing, or too slowly)";
        }
        else if (eventId.Name == "AuthenticationFailed")
        {
            reason = Describe(exception);
        }
        else
        {
            return;
        }

        ReportFailure(reason);
    }

    /// <summary>Records one failed handshake with the reason operators will read.</summary>
    public void ReportFailure(string reason)
    {
        // Category() maps every reason onto a closed set of eight, so there are at most eight throttles.
        var category = Category(reason);
        metrics.TlsHandshakeFailed(category);
        switch (_throttles.GetOrAdd(category, _ => new LogThrottle(time)).Hit())
        {
            case 0:
                break;
            case 1:
                GatewayLog.TlsHandshakeFailed(_target, reason);
                break;
            case var count:
                GatewayLog.TlsHandshakeFailedRepeatedly(_target, reason, count - 1);
                break;
        }
    }

    /// <summary>
    /// Catches what escapes Kestrel's TLS middleware before the handshake finished (SslStream throws
    /// <see cref="NotSupportedException"/> for a ClientHello it cannot serve, which Kestrel would log as an
    /// unhandled error) and reports it as a failed handshake instead.
    /// </summary>
    public Func<Microsoft.AspNetCore.Connections.ConnectionDelegate, Microsoft.AspNetCore.Connections.ConnectionDelegate> Guard =>
        next => async connection =>
        {
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            catch (Exception ex) when (connection.Features.Get<TlsEstablished>() is null && ex is not OperationCanceledException && !ClosedByGatewayException.IsCause(ex))
            {
                ReportFailure(ex is NotSupportedException
                    ? $"no TLS version or cipher suite in common with the client (TLS 1.2 or 1.3 with AEAD suites required): {ex.Message}"
                    : Describe(ex));
            }
        };

    /// <summary>Marks a connection whose handshake completed; runs right after Kestrel's TLS middleware.</summary>
    public static Func<Microsoft.AspNetCore.Connections.ConnectionDelegate, Microsoft.AspNetCore.Connections.ConnectionDelegate> MarkEstablished =>
        next => connection =>
        {
            connection.Features.Set(TlsEstablished.Instance);
            return next(connection);
        };

    private sealed class TlsEstablished
    {
        public static readonly TlsEstablished Instance = new();
    }

    /// <summary>A short label for the metric, from the reason text.</summary>
    internal static string Category(string reason) => reason switch
    {
        _ when reason.Contains("unknown certificate authority", StringComparison.Ordinal) => "unknown_ca",
        _ when reason.Contains("bad certificate", StringComparison.Ordinal) => "bad_certificate",
        _ when reason.Contains("expired certificate", StringComparison.Ordinal) => "expired",
        _ when reason.Contains("plaintext", StringComparison.Ordinal) => "plaintext",
        _ when reason.Contains("TLS version", StringComparison.Ordinal) || reason.Contains("cipher", StringComparison.Ordinal) => "protocol",
        _ when reason.Contains("timed out", StringComparison.Ordinal) => "timeout",
        _ when reason.Contains("closed", StringComparison.OrdinalIgnoreCase) || reason.Contains("reset", StringComparison.OrdinalIgnoreCase) => "closed",
        _ => "other",
    };

    /// <summary>
    /// The innermost message, with OpenSSL's alert names translated into the words Go prints, which the
    /// troubleshooting guide quotes (<c>unknown certificate authority</c>, <c>bad certificate</c>).
    /// </summary>
    internal static string Describe(Exception? exception)
    {
        var detail = ExceptionChain.InnermostMessage(exception) ?? "connection closed during the handshake";
        var known = detail switch
        {
            _ when detail.Contains("unknown ca", StringComparison.OrdinalIgnoreCase) => "remote error: tls: unknown certificate authority (the client does not trust the CA that signed tls.cert_file; register ca.crt on the tunnel)",
            _ when detail.Contains("bad certificate", StringComparison.OrdinalIgnoreCase) || detail.Contains("BadCertificate", StringComparison.Ordinal) => "remote error: tls: bad certificate (the certificate's names or validity were rejected; check the SAN *.<tunnel_domain> and expiry)",
            _ when detail.Contains("certificate expired", StringComparison.OrdinalIgnoreCase) => "remote error: tls: expired certificate (renew it: mcp-tunnel setup renew-cert)",
            _ when detail.Contains("wrong version number", StringComparison.OrdinalIgnoreCase) || detail.Contains("http request", StringComparison.OrdinalIgnoreCase)
                || detail.Contains("Cannot determine the frame size", StringComparison.OrdinalIgnoreCase) => "first record does not look like a TLS handshake (plaintext inside the WebSocket?)",
            _ when detail.Contains("unsupported protocol", StringComparison.OrdinalIgnoreCase) => "client offered an unsupported TLS version (TLS 1.2 or 1.3 required)",
            _ when detail.Contains("no shared cipher", StringComparison.OrdinalIgnoreCase) => "no shared cipher suite (AEAD suites with ECDHE are required)",
            _ => null,
        };
        return known is null ? detail : $"{known}: {detail}";
    }

    private sealed class Listener(TlsHandshakeFailureReporter owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Report(eventId, exception);
    }
}
