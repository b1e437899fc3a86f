using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace McpTunnel.Operations;

/// <summary>An established inner TLS session over one WebSocket.</summary>
public sealed class EdgeConnection(SslStream stream, TimeSpan webSocketConnect, TimeSpan tlsHandshake) : IAsyncDisposable
{
    public SslStream Stream { get; } = stream;

    public TimeSpan WebSocketConnect { get; } = webSocketConnect;

    public TimeSpan TlsHandshake { get; } = tlsHandshake;

    public X509Certificate2? ServerCertificate => Stream.RemoteCertificate as X509Certificate2;

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
