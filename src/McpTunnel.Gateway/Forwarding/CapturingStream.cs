using System.Buffers;

namespace McpTunnel.Gateway.Forwarding;

/// <summary>
/// A read-through stream that keeps a copy of the first bytes it passes on (the first <see cref="McpRequestPeek.MaxBytes"/>).
/// The copy is sized to the body (<paramref name="expectedLength"/>, the Content-Length when there is one) and grows
/// only as bytes arrive: every traced or metered request is peeked, and a 1 KB tool call should not cost a
/// 16 KB buffer (bench/telemetry.sh measured that as most of what the exporters cost per request). The copy is
/// rented from the shared array pool and given back by <see cref="Release"/>, but only once the body has been read
/// to its end: a body the forwarder stopped reading half-way might still be read by it later, and a returned array
/// written to by a late read would corrupt whoever rented it next.
/// </summary>
internal sealed class CapturingStream(Stream inner, long? expectedLength = null) : Stream
{
    /// <summary>The first buffer when the length is not known (a chunked body): a typical MCP request fits.</summary>
    private const int UnknownLengthStart = 2048;

    private readonly int _firstSize = (int)Math.Clamp(expectedLength ?? UnknownLengthStart, 1, McpRequestPeek.MaxBytes);
    private byte[] _buffer = [];
    private int _length;
    private bool _overflow;
    private bool _ended;

    public ReadOnlySpan<byte> Captured => _buffer.AsSpan(0, _length);

    /// <summary>True when the whole body was read and fitted in the window.</summary>
    public bool Complete { get; private set; }

    public long BytesRead { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Keep(buffer.Span[..read], buffer.Length);
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = inner.Read(buffer, offset, count);
        Keep(buffer.AsSpan(offset, read), count);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <param name="data">What the read returned.</param>
    /// <param name="requested">The room the reader offered: a read of 0 into no room is a zero-byte read (the forwarder
    /// waiting for data without holding a buffer), not the end of the body.</param>
    private void Keep(ReadOnlySpan<byte> data, int requested)
    {
        BytesRead += data.Length;
        if (data.Length == 0)
        {
            if (requested == 0)
            {
                return;
            }

            Complete = !_overflow;
            _ended = true;
            return;
        }

        if (_ended)
        {
            return;
        }

        if (_overflow || _length + data.Length > McpRequestPeek.MaxBytes)
        {
            _overflow = true;
            return;
        }

        if (_length + data.Length > _buffer.Length)
        {
            var size = Math.Max(_buffer.Length == 0 ? _firstSize : _buffer.Length * 2, _length + data.Length);
            var grown = ArrayPool<byte>.Shared.Rent(Math.Min(size, McpRequestPeek.MaxBytes));
            _buffer.AsSpan(0, _length).CopyTo(grown);
            ReturnBuffer();
            _buffer = grown;
        }

        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    /// <summary>
    /// Gives the copy back to the pool once the body has been read to its end (nothing reads past the end); a body
    /// not read to its end keeps its copy for the collector. <see cref="Captured"/> is empty afterwards.
    /// </summary>
    public void Release()
    {
        if (!_ended)
        {
            return;
        }

        ReturnBuffer();
        _buffer = [];
        _length = 0;
    }

    private void ReturnBuffer()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    public override void Flush() { }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
