using System.Buffers;
using System.Buffers.Binary;
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
/// The WebSocket is framed here, on the outer connection's own pipe (decision 0018): no upgraded request stream, no
/// <c>ManagedWebSocket</c>, no <c>WebSocketStream</c>.
/// 1. The receive loop reads the outer pipe as RFC 6455 frames (<see cref="WebSocketFrameHeader"/>) and unmasks
///    binary payloads straight into the inner input pipe. It keeps reading while a request is running, so control
///    frames (ping, pong, close) are always answered, and the peer going away is seen at once: the input completes
///    and <see cref="ConnectionClosed"/> fires, which makes Kestrel abort the request and YARP cancel the upstream
///    call. Only binary messages carry the stream: a text message closes the WebSocket with 1003 (unsupported data,
///    RFC 6455 7.4.1) as soon as its first frame header arrives (decision 0003, question 2); any other violation
///    closes it with 1002.
/// 2. The send loop writes what Kestrel produces (TLS records) into the outer pipe as one unmasked binary frame per
///    read of the inner output.
/// 3. When Kestrel is done with the connection it disposes it: the send loop drains, our close frame is sent and
///    the peer's awaited (bounded by a short timeout), and <see cref="Completed"/> lets the outer request finish.
/// Pipe thresholds bound the memory one connection can hold in each direction (backpressure); every write to the
/// outer pipe (data, pongs, keep-alive pongs, the close frame) is one frame under one lock.
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

    /// <summary>Unmasked payload bytes written to the inner pipe before it is flushed (and backpressure applies).</summary>
    private const int FlushThreshold = 64 * 1024;

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private static readonly byte[] TextRefusal = "binary messages only"u8.ToArray();

    private static long _nextId;
    private readonly IDuplexPipe _outerPipe;
    private readonly Pipe _input = new(PipeOptions);
    private readonly Pipe _output = new(PipeOptions);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FeatureCollection _features = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _keepAlive;
    private ITimer? _keepAliveTimer;
    private IDictionary<object, object?>? _items;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private int _disposed;
    private int _finished;

    // The inner input pipe's writer is completed (by the receive loop, or when Kestrel stopped reading it).
    private int _innerCompleted;

    // Written under _writeLock: our close frame is out (nothing but pongs may follow it, RFC 6455 5.5.1), or the
    // outer pipe refused a write (the peer is gone).
    private bool _closeSent;
    private bool _outerGone;

    // Set by Abort and by the close timeout: the receive loop stops at its next read, and nothing more is sent.
    private volatile bool _aborted;

    // Why Abort was called: the inner stream fails with it, so a reason such as ClosedByGatewayException reaches
    // Kestrel and the TLS failure report.
    private ConnectionAbortedException? _abortReason;

    // Set when the receive loop ended on the peer's close frame, a violation or EOF: no close handshake to wait for.
    private volatile bool _receiveEnded;

    // Set by the receive loop on EOF or a transport error: no close frame is owed to a peer that is gone.
    private volatile bool _peerGone;

    /// <param name="outerPipe">The outer connection's transport after the 101 answer: client frames in, server frames out.</param>
    /// <param name="outerRemote">The outer connection's peer.</param>
    /// <param name="outerConnectionId">Kestrel's id of the outer connection (this one's id extends it).</param>
    /// <param name="outer">The outer connection as the limits see it (null when it is not governed, e.g. in tests).</param>
    /// <param name="keepAlive">How often an unsolicited pong is sent (RFC 6455 5.5.3); zero sends none.</param>
    /// <param name="time">The clock of the keep-alive.</param>
    public TunnelConnection(IDuplexPipe outerPipe, IPEndPoint? outerRemote, string outerConnectionId, OuterConnection? outer = null,
        TimeSpan keepAlive = default, TimeProvider? time = null)
    {
        Outer = outer;
        _outerPipe = outerPipe;
        _keepAlive = keepAlive;
        _time = time ?? TimeProvider.System;
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

    /// <summary>Starts the loops and the keep-alive; called before the connection is offered to Kestrel.</summary>
    public void Start()
    {
        _receiving = ReceiveAsync();
        _sending = SendAsync();
        if (_keepAlive > TimeSpan.Zero)
        {
            _keepAliveTimer = _time.CreateTimer(static state => ((TunnelConnection)state!).KeepAlive(), this, _keepAlive, _keepAlive);
        }
    }

    /// <summary>Why <see cref="Parse"/> stopped.</summary>
    private enum Step
    {
        /// <summary>The buffer ends inside a frame header or a control frame (or is used up).</summary>
        NeedMore,

        /// <summary><see cref="FlushThreshold"/> payload bytes are waiting in the inner pipe.</summary>
        Flush,

        /// <summary>A ping arrived: answer it, then go on parsing.</summary>
        Ping,

        /// <summary>A valid close frame arrived: the stream is over.</summary>
        PeerClose,

        /// <summary>A frame broke a rule: close with the status given.</summary>
        Violation,
    }

    // The receive loop's frame state (touched by that loop only): a fragmented binary message is open; payload bytes
    // of the current data frame still to come, its masking key and how far into its payload we are.
    private bool _messageOpen;
    private long _remaining;
    private int _maskKey;
    private long _maskOffset;

    private async Task ReceiveAsync()
    {
        var reader = _outerPipe.Input;
        Exception? error = null;
        try
        {
            // Abort cancels the pending (or next) read, so an abort is always seen here and fails the inner stream.
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (_aborted)
                {
                    reader.AdvanceTo(result.Buffer.Start);
                    error = new ConnectionResetException("the WebSocket was closed", _abortReason ?? new ConnectionAbortedException("the WebSocket close handshake timed out"));
                    break;
                }

                var buffer = result.Buffer;
                var unflushed = 0;
                Step step;
                WebSocketCloseStatus violation;
                while (true)
                {
                    step = Parse(ref buffer, ref unflushed, out var ping, out violation);
                    if (step == Step.Ping)
                    {
                        await SendFrameAsync(WebSocketFrameHeader.Pong, new ReadOnlySequence<byte>(ping!)).ConfigureAwait(false);
                        continue;
                    }

                    if (step == Step.Flush)
                    {
                        await FlushInnerAsync().ConfigureAwait(false);
                        unflushed = 0;
                        continue;
                    }

                    break;
                }

                // Examined up to the end only when more bytes are needed, so the next read waits for them.
                reader.AdvanceTo(buffer.Start, step == Step.NeedMore ? result.Buffer.End : buffer.Start);
                if (unflushed > 0)
                {
                    await FlushInnerAsync().ConfigureAwait(false);
                }

                if (step == Step.PeerClose)
                {
                    // The peer's close ends the stream (Kestrel reads EOF); DisposeAsync answers with our close.
                    break;
                }

                if (step == Step.Violation)
                {
                    error = await RefuseAsync(violation).ConfigureAwait(false);
                    break;
                }

                if (result.IsCompleted)
                {
                    // EOF without a close frame: the WebSocket failed (RFC 6455 7.1.5); nothing is owed to the peer.
                    _peerGone = true;
                    error = new ConnectionResetException("the WebSocket was closed", new WebSocketException(WebSocketError.ConnectionClosedPrematurely));
                    break;
                }
            }
        }
        catch (Exception ex) when (IsGone(ex))
        {
            _peerGone = true;
            error = new ConnectionResetException("the WebSocket was closed", ex);
        }
        finally
        {
            _receiveEnded = true;
            CompleteInner(error);
        }
    }

    /// <summary>
    /// Reads frames from <paramref name="buffer"/> (and slices it past them): binary payloads are unmasked into the
    /// inner input pipe, pongs are dropped, and everything else is handed back to the loop as a <see cref="Step"/>.
    /// </summary>
    private Step Parse(ref ReadOnlySequence<byte> buffer, ref int unflushed, out byte[]? ping, out WebSocketCloseStatus violation)
    {
        ping = null;
        violation = default;
        Span<byte> control = stackalloc byte[WebSocketFrameHeader.MaxControlPayload];
        var writer = _input.Writer;
        while (true)
        {
            if (_remaining > 0)
            {
                if (buffer.IsEmpty)
                {
                    return Step.NeedMore;
                }

                var take = (int)Math.Min(_remaining, Math.Min(buffer.Length, FlushThreshold - unflushed));
                if (Volatile.Read(ref _innerCompleted) == 0)
                {
                    foreach (var segment in buffer.Slice(0, take))
                    {
                        var source = segment.Span;
                        while (!source.IsEmpty)
                        {
                            var destination = writer.GetSpan();
                            var count = Math.Min(source.Length, destination.Length);
                            WebSocketFrameHeader.Unmask(source[..count], destination, _maskKey, ref _maskOffset);
                            writer.Advance(count);
                            source = source[count..];
                        }
                    }

                    unflushed += take;
                }

                // Once Kestrel has stopped reading the inner stream, payloads are read and dropped while the close
                // handshake finishes.
                _remaining -= take;
                buffer = buffer.Slice(take);
                if (unflushed >= FlushThreshold)
                {
                    return Step.Flush;
                }

                continue;
            }

            if (!WebSocketFrameHeader.TryRead(buffer, out var header))
            {
                return Step.NeedMore;
            }

            if (header.Check(_messageOpen) is { } status)
            {
                violation = status;
                return Step.Violation;
            }

            if (!header.IsControl)
            {
                // A data frame: its payload streams through as it arrives. An empty one only moves the message on.
                buffer = buffer.Slice(header.HeaderLength);
                _messageOpen = !header.Fin;
                _remaining = header.PayloadLength;
                _maskKey = header.MaskKey;
                _maskOffset = 0;
                continue;
            }

            // A control frame (at most 125 bytes, Check made sure) is handled whole.
            var length = (int)header.PayloadLength;
            if (buffer.Length < header.HeaderLength + length)
            {
                return Step.NeedMore;
            }

            var payload = control[..length];
            buffer.Slice(header.HeaderLength, length).CopyTo(payload);
            long offset = 0;
            WebSocketFrameHeader.Unmask(payload, payload, header.MaskKey, ref offset);
            buffer = buffer.Slice(header.HeaderLength + length);
            switch (header.Opcode)
            {
                case WebSocketFrameHeader.Ping:
                    // RFC 6455 5.5.2/5.5.3: a pong with the ping's payload, in order.
                    ping = payload.ToArray();
                    return Step.Ping;
                case WebSocketFrameHeader.Close when !WebSocketFrameHeader.IsValidClosePayload(payload):
                    violation = WebSocketCloseStatus.ProtocolError;
                    return Step.Violation;
                case WebSocketFrameHeader.Close:
                    return Step.PeerClose;
                default:
                    // An unsolicited or answering pong needs nothing (RFC 6455 5.5.3).
                    continue;
            }
        }
    }

    private async ValueTask FlushInnerAsync()
    {
        var flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
        if (flush.IsCompleted)
        {
            // Kestrel has stopped reading: the connection is ending. Go on reading frames for the close handshake.
            CompleteInner(null);
        }
    }

    /// <summary>
    /// Sends the close frame for a violation and says how the inner connection ends. A text message is answered with
    /// 1003 at once, without reading its payload (decision 0003, question 2); everything else with 1002.
    /// </summary>
    private async ValueTask<Exception> RefuseAsync(WebSocketCloseStatus status)
    {
        if (status == WebSocketCloseStatus.InvalidMessageType)
        {
            RefusedText = true;
            await SendCloseAsync(status, TextRefusal).ConfigureAwait(false);
            // Ends the inner connection with a reason the TLS failure report recognises (it has its own line).
            // An I/O error, not a cancellation: Kestrel reports a cancelled handshake as a timeout, without it.
            return new ConnectionResetException("the WebSocket was closed", new ClosedByGatewayException("the WebSocket peer sent a text message; closed with 1003"));
        }

        await SendCloseAsync(status, []).ConfigureAwait(false);
        return new ConnectionResetException("the WebSocket was closed", new WebSocketException(WebSocketError.Faulted, "the WebSocket peer broke the protocol (RFC 6455); closed with 1002"));
    }

    private ValueTask<bool> SendCloseAsync(WebSocketCloseStatus status, ReadOnlySpan<byte> reason)
    {
        var payload = new byte[2 + reason.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)status);
        reason.CopyTo(payload.AsSpan(2));
        return SendFrameAsync(WebSocketFrameHeader.Close, new ReadOnlySequence<byte>(payload));
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
                var sent = buffer.IsEmpty || await SendFrameAsync(WebSocketFrameHeader.Binary, buffer).ConfigureAwait(false);
                reader.AdvanceTo(buffer.End);
                if (!sent || result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (IsGone(ex))
        {
            // The peer is gone; the receive side notices too and ends the connection.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes one unmasked frame into the outer pipe and flushes it; false when nothing may be sent any more (our
    /// close frame is out, the connection was aborted, or the peer is gone).
    /// </summary>
    private async ValueTask<bool> SendFrameAsync(int opcode, ReadOnlySequence<byte> payload)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_closeSent || _outerGone || _aborted)
            {
                return false;
            }

            // RFC 6455 5.5.1: after the close frame, no data frame may follow.
            if (opcode == WebSocketFrameHeader.Close)
            {
                _closeSent = true;
            }

            var output = _outerPipe.Output;
            output.Advance(WebSocketFrameHeader.WriteServerHeader(output.GetSpan(WebSocketFrameHeader.MaxServerHeaderLength), opcode, payload.Length));
            foreach (var segment in payload)
            {
                output.Write(segment.Span);
            }

            var flush = await output.FlushAsync().ConfigureAwait(false);
            if (flush.IsCompleted || flush.IsCanceled)
            {
                _outerGone = true;
                return false;
            }

            return true;
        }
        catch (Exception ex) when (IsGone(ex))
        {
            _outerGone = true;
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>An unsolicited pong every <c>appliance.websocket_keepalive</c>, as <c>ManagedWebSocket</c> sent (RFC 6455 5.5.3).</summary>
    private void KeepAlive()
    {
        if (_writeLock.CurrentCount == 0)
        {
            // A frame is being written: the peer is hearing from us anyway.
            return;
        }

        _ = SendFrameAsync(WebSocketFrameHeader.Pong, ReadOnlySequence<byte>.Empty).AsTask();
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _abortReason ??= abortReason;
        _aborted = true;
        if (Volatile.Read(ref _finished) == 0)
        {
            try
            {
                _outerPipe.Input.CancelPendingRead();
                _outerPipe.Output.CancelPendingFlush();
            }
            catch (InvalidOperationException)
            {
                // The outer request has just ended; its pipes are Kestrel's again.
            }
        }

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
            await CloseAsync().ConfigureAwait(false);
            await _receiving.ConfigureAwait(false);
        }
        finally
        {
            CancelClosed();
            _closed.Dispose();
            // No frame may be written once the outer request ends and Kestrel takes its pipe back (a keep-alive pong
            // whose timer fired just before it was disposed waits for the lock and then finds the pipe closed).
            await _writeLock.WaitAsync().ConfigureAwait(false);
            _outerGone = true;
            _writeLock.Release();
            Volatile.Write(ref _finished, 1);
            _completed.TrySetResult();
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The close handshake (RFC 6455 7.1.2): our close frame, unless one is out already (1003, 1002) or the peer is
    /// gone; then, unless the peer closed first, its close frame or EOF, for at most <see cref="CloseTimeout"/>.
    /// </summary>
    private async Task CloseAsync()
    {
        _keepAliveTimer?.Dispose();
        if (_aborted || _peerGone)
        {
            return;
        }

        var sent = await SendCloseAsync(WebSocketCloseStatus.NormalClosure, []).ConfigureAwait(false);
        if (!sent || _receiveEnded)
        {
            return;
        }

        try
        {
            // Real time, as ManagedWebSocket's close timeout was: a test clock that never moves must not hold a
            // connection open.
            await _receiving.WaitAsync(CloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _aborted = true;
            _outerPipe.Input.CancelPendingRead();
        }
    }

    private void CompleteInner(Exception? error)
    {
        if (Interlocked.Exchange(ref _innerCompleted, 1) == 0)
        {
            _input.Writer.Complete(error);
            CancelClosed();
        }
    }

    /// <summary>
    /// The ways the outer connection reports that it is gone: Kestrel's socket transport throws
    /// <see cref="ConnectionResetException"/> (an <see cref="IOException"/>) or <see cref="ConnectionAbortedException"/>
    /// (an <see cref="OperationCanceledException"/>), and a pipe used after Kestrel let go of it throws
    /// <see cref="InvalidOperationException"/>. Letting one escape would make <see cref="DisposeAsync"/> throw, so
    /// Kestrel would never remove the connection from its bookkeeping ("application never completed", found by the
    /// frame fuzzer, WebSocketFrameFuzzTests).
    /// </summary>
    private static bool IsGone(Exception ex) =>
        ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException;

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
