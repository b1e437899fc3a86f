using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace McpTunnel.Gateway;

/// <summary>
/// A Kestrel connection whose transport is one accepted WebSocket's byte stream. Kestrel runs the inner
/// TLS handshake and the HTTP/1.1 or HTTP/2 server on it exactly as it would on a socket.
/// </summary>
internal sealed class TunnelConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, ITunnelFeature
{
    private static long s_nextId;
    private readonly WebSocket _webSocket;
    private readonly Stream _stream;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FeatureCollection _features = new FeatureCollection();
    private IDictionary<object, object?>? _items;

    public TunnelConnection(WebSocket webSocket, Stream stream, EndPoint? outerRemote, string outerConnectionId)
    {
        _webSocket = webSocket;
        _stream = stream;
        ConnectionId = $"{outerConnectionId}:{Interlocked.Increment(ref s_nextId)}";
        RemoteEndPoint = outerRemote;
        LocalEndPoint = InnerEndPoint.Instance;
        OuterRemoteAddress = (outerRemote as IPEndPoint)?.Address;
        // The pipes own no buffers of their own beyond the pool's: reads flow straight from the WebSocket.
        Transport = new DuplexPipe(
            PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4096, leaveOpen: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionEndPointFeature>(this);
        _features.Set<ITunnelFeature>(this);
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public IPAddress? OuterRemoteAddress { get; }

    /// <summary>Completes when Kestrel has finished with the connection.</summary>
    public Task Completed => _completed.Task;

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _webSocket.Abort();
        CancelClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        try
        {
            await Transport.Input.CompleteAsync().ConfigureAwait(false);
            await Transport.Output.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            CancelClosed();
            _closed.Dispose();
            _completed.TrySetResult();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void CancelClosed()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already disposed: the connection is over.
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    public Stream Stream => _stream;
}

/// <summary>What the inner HTTP request can learn about the WebSocket that carries it.</summary>
public interface ITunnelFeature
{
    /// <summary>The address of the peer of the outer WebSocket (cloudflared), for <c>X-Forwarded-For</c>.</summary>
    IPAddress? OuterRemoteAddress { get; }
}
