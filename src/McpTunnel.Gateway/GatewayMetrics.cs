namespace McpTunnel.Gateway;

/// <summary>
/// Counters the data path keeps for operators and tests. Plain interlocked fields: the hot path pays one
/// atomic add per event and nothing when nobody reads them.
/// </summary>
public sealed class GatewayMetrics
{
    private long _activeWebSockets;
    private long _webSocketsTotal;
    private long _requests;
    private long _noRoute;
    private long _ipRejections;
    private long _tlsHandshakeFailures;
    private long _upstreamErrors;

    public long ActiveWebSockets => Interlocked.Read(ref _activeWebSockets);

    public long WebSocketsTotal => Interlocked.Read(ref _webSocketsTotal);

    public long Requests => Interlocked.Read(ref _requests);

    public long NoRoute => Interlocked.Read(ref _noRoute);

    public long IpRejections => Interlocked.Read(ref _ipRejections);

    public long TlsHandshakeFailures => Interlocked.Read(ref _tlsHandshakeFailures);

    public long UpstreamErrors => Interlocked.Read(ref _upstreamErrors);

    internal void WebSocketOpened()
    {
        Interlocked.Increment(ref _activeWebSockets);
        Interlocked.Increment(ref _webSocketsTotal);
    }

    internal void WebSocketClosed() => Interlocked.Decrement(ref _activeWebSockets);

    internal void RequestStarted() => Interlocked.Increment(ref _requests);

    internal void NoRouteForHost() => Interlocked.Increment(ref _noRoute);

    internal void IpRejected() => Interlocked.Increment(ref _ipRejections);

    internal void TlsHandshakeFailed() => Interlocked.Increment(ref _tlsHandshakeFailures);

    internal void UpstreamError() => Interlocked.Increment(ref _upstreamErrors);
}
