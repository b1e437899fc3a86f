using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace McpTunnel.Operations;

/// <summary>How to reach a gateway the way the tunnel edge does (through cloudflared's WebSocket).</summary>
public sealed record EdgeConnectOptions
{
    /// <summary>The gateway's WebSocket listener, for example <c>ws://127.0.0.1:8080/</c>.</summary>
    public required Uri Gateway { get; init; }

    /// <summary>The CA(s) the server certificate must chain to directly; null only with <see cref="SkipVerification"/>.</summary>
    public X509Certificate2Collection? TrustedCas { get; init; }

    /// <summary>Skips certificate checks (diagnostics only; the edge never does).</summary>
    public bool SkipVerification { get; init; }

    public IReadOnlyList<SslApplicationProtocol> ApplicationProtocols { get; init; } = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
