using McpTunnel.Gateway.Forwarding;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// The peek's copy of a request body (<see cref="CapturingStream"/>): whole bodies up to
/// <see cref="McpRequestPeek.MaxBytes"/> are kept exactly, longer ones are not, and the copy costs about what
/// the body weighs (every request is peeked once an exporter is on; see bench/telemetry.sh).
/// </summary>
public sealed class CapturingStreamTests
{
    private static byte[] Body(int length) => Enumerable.Range(0, length).Select(i => (byte)('a' + (i % 26))).ToArray();

    /// <summary>Reads the stream to its end in reads of <paramref name="chunk"/> bytes, as the forwarder does.</summary>
    private static CapturingStream ReadThrough(byte[] body, long? declaredLength, int chunk)
    {
        var capture = new CapturingStream(new MemoryStream(body), declaredLength);
        var buffer = new byte[chunk];
        while (capture.Read(buffer, 0, buffer.Length) > 0)
        {
        }

        return capture;
    }

    [Theory]
    [InlineData(900, true, 4096)]
    [InlineData(900, false, 100)]
    [InlineData(10_000, false, 1000)]
    [InlineData(McpRequestPeek.MaxBytes, true, 4096)]
    [InlineData(McpRequestPeek.MaxBytes, false, 3000)]
    public void A_body_that_fits_is_kept_whole(int length, bool declared, int chunk)
    {
        var body = Body(length);
        var capture = ReadThrough(body, declared ? length : null, chunk);
        Assert.True(capture.Complete);
        Assert.Equal(length, capture.BytesRead);
        Assert.Equal(body, capture.Captured.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_longer_body_is_passed_on_but_not_kept(bool declared)
    {
        var body = Body(McpRequestPeek.MaxBytes + 1);
        var capture = ReadThrough(body, declared ? body.Length : null, 4096);
        Assert.False(capture.Complete);
        Assert.Equal(body.Length, capture.BytesRead);
    }

    [Fact]
    public void The_copy_of_a_small_body_is_pooled_and_costs_nothing_once_the_pool_has_it()
    {
        var body = System.Text.Encoding.UTF8.GetBytes(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + new string('x', 800) + "\"}}}");
        var buffer = new byte[4096];
        // The first request rents the array from the pool (which may allocate it) and gives it back.
        Peek(new MemoryStream(body));

        // Everything below runs synchronously on this thread, so the thread's allocation counter sees all of it.
        var source = new MemoryStream(body);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var names = Peek(source);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(("tools/call", "echo"), names);
        // The stream object and the two names only (the fixed 16 KB window cost 16.5 KB here, the unpooled copy
        // about the body more).
        Assert.InRange(allocated, 1, body.Length / 2);

        (string?, string?) Peek(Stream stream)
        {
            var capture = new CapturingStream(stream, body.Length);
            while (capture.Read(buffer, 0, buffer.Length) > 0)
            {
            }

            Assert.True(capture.Complete);
            return McpRequestPeek.Read(capture);
        }
    }

    [Fact]
    public void A_body_not_read_to_its_end_keeps_its_copy_out_of_the_pool()
    {
        // The forwarder may stop reading a body (the upstream answered early) and read it again later: the array
        // must not go back to the pool while a read could still write into it.
        var body = Body(900);
        var capture = new CapturingStream(new MemoryStream(body), body.Length);
        var buffer = new byte[100];
        Assert.Equal(100, capture.Read(buffer, 0, buffer.Length));
        Assert.Equal((null, null), McpRequestPeek.Read(capture));
        Assert.Equal(body.AsSpan(0, 100).ToArray(), capture.Captured.ToArray());

        // Read to the end, it is released.
        while (capture.Read(buffer, 0, buffer.Length) > 0)
        {
        }

        Assert.Equal(body, capture.Captured.ToArray());
        capture.Release();
        Assert.Equal(0, capture.Captured.Length);
    }

    [Fact]
    public async Task A_zero_byte_read_waits_for_data_and_is_not_the_end_of_the_body()
    {
        // The forwarder reads with an empty buffer to wait for data without holding one; only a read of 0 into real
        // room is the end. (Taking the first for the end dropped every request's copy: no method in the access line.)
        var body = System.Text.Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}""");
        var capture = new CapturingStream(new MemoryStream(body), body.Length);
        var buffer = new byte[16];
        Assert.Equal(0, await capture.ReadAsync(Memory<byte>.Empty));
        Assert.False(capture.Complete);
        while (true)
        {
            Assert.Equal(0, await capture.ReadAsync(Memory<byte>.Empty));
            if (await capture.ReadAsync(buffer) == 0)
            {
                break;
            }
        }

        Assert.True(capture.Complete);
        Assert.Equal(body, capture.Captured.ToArray());
        Assert.Equal(("tools/call", "echo"), McpRequestPeek.Read(capture));
    }
}
