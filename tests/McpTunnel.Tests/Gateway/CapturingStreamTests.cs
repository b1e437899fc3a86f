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
    public void The_copy_of_a_small_body_costs_about_the_body_not_the_whole_window()
    {
        var body = Body(900);
        var source = new MemoryStream(body);
        var buffer = new byte[4096];
        // Everything below runs synchronously on this thread, so the thread's allocation counter sees all of it.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var capture = new CapturingStream(source, body.Length);
        while (capture.Read(buffer, 0, buffer.Length) > 0)
        {
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(capture.Complete);
        // 900 bytes of copy plus the stream object; the fixed 16 KB window cost 16.5 KB here.
        Assert.InRange(allocated, body.Length, 2 * body.Length);
    }
}
