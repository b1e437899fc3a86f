using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// Kestrel's listener for <see cref="InnerEndPoint"/>: instead of accepting sockets it accepts the
/// WebSocket byte streams that <see cref="OuterWebSocketHandler"/> hands over. No loopback hop, no
/// second socket per inner connection.
/// </summary>
/// <param name="capacity">
/// How many connections may wait for Kestrel's accept loop; more are refused rather than queued without bound. The
/// gateway passes <c>max_sessions</c>, which no queue of sessions can exceed anyway.
/// </param>
internal sealed class InnerConnectionListener(int capacity) : IConnectionListener
{
    private readonly Channel<TunnelConnection> _pending = Channel.CreateBounded<TunnelConnection>(
        new BoundedChannelOptions(capacity) { SingleReader = false, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });

    public EndPoint EndPoint => InnerEndPoint.Instance;

    /// <summary>Offers a connection to Kestrel; false once the server is shutting down or the queue is full.</summary>
    public bool TryEnqueue(TunnelConnection connection) => _pending.Writer.TryWrite(connection);

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _pending.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _pending.Writer.TryComplete();
        // Connections offered but never accepted are closed so their WebSockets end.
        while (_pending.Reader.TryRead(out var orphan))
        {
            orphan.Abort(new ConnectionAbortedException("the gateway is shutting down"));
            _ = orphan.DisposeAsync().AsTask();
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}
