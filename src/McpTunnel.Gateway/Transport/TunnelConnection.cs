using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// A Kestrel connection whose transport is one accepted WebSocket's byte stream. Kestrel runs the inner
/// TLS handshake and the HTTP/1.1 or HTTP/2 server on it exactly as it would on a socket.
/// </summary>
/// <remarks>
/// Like Kestrel's socket transport, it pumps in both directions on its own instead of reading on demand:
/// 1. The receive loop reads the WebSocket into the input pipe. It keeps reading while a request is
///    running, so control frames (ping, pong, close) are always answered, and the peer going away is seen
///    at once: the input completes and <see cref="ConnectionClosed"/> fires, which makes Kestrel abort the
///    request and YARP cancel the upstream call.
///    Only binary messages carry the stream: a text message closes the WebSocket with 1003 (unsupported data,
///    RFC 6455 7.4.1) as soon as its first frame header arrives (decision 0003, question 2).
/// 2. The send loop writes what Kestrel produces (TLS records) as binary messages, one per buffer segment.
/// 3. When Kestrel is done with the connection it disposes it: the send loop drains, the WebSocket is closed
///    politely (bounded by a short timeout) and <see cref="Completed"/> lets the outer request finish.
/// Pipe thresholds bound the memory one connection can hold in each direction (backpressure).
/// </remarks>
internal sealed class TunnelConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionTransportFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, ITunnelFeature
{
    private static readonly PipeOptions PipeOptions = new(
        pauseWriterThreshold: 256 * 1024,
        resumeWriterThreshold: 128 * 1024,
        minimumSegmentSize: 16 * 1024,
        useSynchronizationContext: false);

    private static long _nextId;
    private readonly WebSocket _webSocket;
    private readonly Stream _stream;
    private readonly Pipe _input = new(PipeOptions);
    private readonly Pipe _output = new(PipeOptions);
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FeatureCollection _features = new();
    private IDictionary<object, object?>? _items;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _disposed;

    // Who sends our close frame: one close handshake per WebSocket, even when a text message arrives while the
    // connection is being closed politely.
    private const int NoClose = 0;
    private const int TextClose = 1;
    private const int PoliteClose = 2;
    private int _closeOwner;

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    public TunnelConnection(WebSocket webSocket, Stream stream, IPEndPoint? outerRemote, string outerConnectionId, OuterConnection? outer = null)
    {
        Outer = outer;
        _webSocket = webSocket;
        _stream = stream;
        ConnectionId = $"{outerConnectionId}:{Interlocked.Increment(ref _nextId)}";
        RemoteEndPoint = outerRemote;
        LocalEndPoint = InnerEndPoint.Instance;
        OuterRemoteAddress = outerRemote?.Address;
        Transport = new DuplexPipe(_input.Reader, _output.Writer);

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

    /// <summary>The outer connection as the limits see it (null when it is not governed, e.g. in tests).</summary>
    public OuterConnection? Outer { get; }

    /// <summary>True when the peer sent a text message and the WebSocket was closed with 1003.</summary>
    public bool RefusedText { get; private set; }

    /// <summary>Completes when Kestrel has finished with the connection and the WebSocket is closed.</summary>
    public Task Completed => _completed.Task;

    /// <summary>Starts the pumps; called before the connection is offered to Kestrel.</summary>
    public void Start()
    {
        _receiving = ReceiveAsync();
        _sending = SendAsync();
    }

    private async Task ReceiveAsync()
    {
        Exception? error = null;
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for the next frame without holding a buffer, so an idle session costs no receive memory
                // (a zero-byte receive completes once a frame header has arrived; control frames are handled
                // inside). Then read its payload into the pipe.
                var next = await _webSocket.ReceiveAsync(Memory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
                if (next.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (next.MessageType == WebSocketMessageType.Text)
                {
                    await RefuseTextAsync().ConfigureAwait(false);
                    // Ends the inner connection with a reason the TLS failure report recognises (it has its own line).
                    // An I/O error, not a cancellation: Kestrel reports a cancelled handshake as a timeout, without it.
                    error = new ConnectionResetException("the WebSocket was closed", new ClosedByGatewayException("the WebSocket peer sent a text message; closed with 1003"));
                    break;
                }

                if (next.EndOfMessage)
                {
                    // An empty final frame: the message is over, and the next one must be judged by its own header
                    // first (reading on would start it, and a text message would be checked as UTF-8 before we see it).
                    continue;
                }

                // The rest of this binary message (read straight from the WebSocket, no stream in between).
                var memory = writer.GetMemory(16 * 1024);
                var received = await _webSocket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                writer.Advance(received.Count);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (IsWebSocketGone(ex))
        {
            error = new ConnectionResetException("the WebSocket was closed", ex);
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
            CancelClosed();
        }
    }

    private async Task SendAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    await _stream.WriteAsync(segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (IsWebSocketGone(ex))
        {
            // The peer is gone; the receive side notices too and ends the connection.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Answers a text message with close 1003 at once, without reading its payload (reading it would judge it as
    /// UTF-8 and fail the WebSocket with 1007 instead, and abort it before the close frame left).
    /// </summary>
    private async Task RefuseTextAsync()
    {
        RefusedText = true;
        if (Interlocked.CompareExchange(ref _closeOwner, TextClose, NoClose) != NoClose)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(CloseTimeout);
            await _webSocket.CloseOutputAsync(WebSocketCloseStatus.InvalidMessageType, "binary messages only", timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsWebSocketGone(ex))
        {
            // The peer is gone already.
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _webSocket.Abort();
        _output.Reader.CancelPendingRead();
        CancelClosed();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await Transport.Input.CompleteAsync().ConfigureAwait(false);
            await Transport.Output.CompleteAsync().ConfigureAwait(false);
            await _sending.ConfigureAwait(false);
            // Closing the stream sends the close frame and waits briefly for the peer's; that ends the
            // receive loop too.
            await CloseQuietlyAsync().ConfigureAwait(false);
            await _receiving.ConfigureAwait(false);
        }
        finally
        {
            CancelClosed();
            _closed.Dispose();
            _completed.TrySetResult();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task CloseQuietlyAsync()
    {
        try
        {
            if (Interlocked.CompareExchange(ref _closeOwner, PoliteClose, NoClose) == TextClose)
            {
                // Our close frame (1003) is out. Waiting for the peer's would read its text payload and abort, and
                // an abort can drop the close frame before it leaves; ending the upgraded request lets Kestrel
                // flush it and close the socket normally.
                _webSocket.Dispose();
                return;
            }

            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsWebSocketGone(ex))
        {
            // The peer is gone already; nothing is lost by not closing politely.
        }
        finally
        {
            if (Volatile.Read(ref _closeOwner) != TextClose)
            {
                _webSocket.Abort();
            }
        }
    }

    /// <summary>
    /// The ways a WebSocket reports that it is closed, closing or aborted. <see cref="NotSupportedException"/> is
    /// <see cref="WebSocketStream"/>'s answer to a read or write once the WebSocket has left the Open state, e.g.
    /// after it answered a protocol error with close 1002 while TLS still had a record to send. Letting it escape
    /// made <see cref="DisposeAsync"/> throw, so Kestrel never removed the connection from its bookkeeping and
    /// later logged "application never completed" (found by the frame fuzzer, WebSocketFrameFuzzTests).
    /// </summary>
    private static bool IsWebSocketGone(Exception ex) =>
        ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException or NotSupportedException;

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
}
