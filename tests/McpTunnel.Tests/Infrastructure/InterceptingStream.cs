namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A stream for tests that read from one place and write through a hook (to split, abort or count writes);
/// only the asynchronous memory overloads are supported, which is all SslStream uses.
/// </summary>
public abstract class InterceptingStream(Stream reader) : Stream
{
    /// <summary>Where reads come from (and, for some subclasses, where writes go).</summary>
    protected Stream Inner { get; } = reader;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Inner.ReadAsync(buffer, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public abstract override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default);
}
