using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Numerics;
using McpTunnel.Gateway.Transport;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// The outer transport's RFC 6455 frame codec on its own (decision 0018): header parsing in every length form and
/// across pipe segments, the rules it judges frames by, server headers and unmasking; then the tunnel connection's
/// receive and send loops on in-memory pipes. The frame fuzzer (WebSocketFrameFuzzTests) covers it over sockets.
/// </summary>
public sealed class WebSocketFrameHeaderTests
{
    private static readonly byte[] Key = [0x5A, 0xC3, 0x17, 0x9E];

    private static ReadOnlySequence<byte> One(byte[] bytes) => new(bytes);

    /// <summary>The same bytes as a chain of segments, cut at <paramref name="cuts"/>.</summary>
    private static ReadOnlySequence<byte> Split(byte[] bytes, params int[] cuts)
    {
        var bounds = cuts.Where(c => c > 0 && c < bytes.Length).Distinct().Order().Append(bytes.Length).ToArray();
        var first = new Segment(bytes.AsMemory(0, bounds[0]), 0);
        var last = first;
        for (var i = 1; i < bounds.Length; i++)
        {
            last = last.Append(bytes.AsMemory(bounds[i - 1], bounds[i] - bounds[i - 1]));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static WebSocketFrameHeader Read(byte[] bytes)
    {
        Assert.True(WebSocketFrameHeader.TryRead(One(bytes), out var header), $"no header in {Convert.ToHexString(bytes)}");
        return header;
    }

    [Theory]
    [InlineData(0, 7, 6)]
    [InlineData(125, 7, 6)]
    [InlineData(126, 7, 8)]
    [InlineData(0, 16, 8)]
    [InlineData(65535, 16, 8)]
    [InlineData(65536, 7, 14)]
    [InlineData(5, 64, 14)]
    public void Every_length_form_is_read_with_its_header_length(int length, int form, int headerLength)
    {
        var bytes = new ClientFrame(0x2, new byte[length]) { LengthForm = form, MaskKey = Key }.Encode();
        var header = Read(bytes);
        Assert.Equal(new WebSocketFrameHeader(true, 0, 0x2, true, length, BitConverter.ToInt32(Key), headerLength), header);
        Assert.Null(header.Check(messageOpen: false));
    }

    [Fact]
    public void A_64_bit_length_is_read_whole_and_its_top_bit_is_a_violation()
    {
        byte[] large = [0x82, 0xFF, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, .. Key];
        Assert.Equal(0x0000_0001_0203_0405L, Read(large).PayloadLength);
        Assert.Null(Read(large).Check(false));

        byte[] topBit = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, .. Key];
        Assert.True(Read(topBit).PayloadLength < 0);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(topBit).Check(false));
    }

    [Fact]
    public void A_header_is_incomplete_until_its_masking_key_is_there_even_when_unmasked()
    {
        // As ManagedWebSocket did (ServerFrameModel rule 1): 2 + extended length + 4 bytes before any judgement.
        foreach (var bytes in new[]
        {
            new ClientFrame(0x2, [1, 2, 3]).Encode(),
            new ClientFrame(0x2, new byte[300]).Encode(),
            new ClientFrame(0x2, [1]) { LengthForm = 64 }.Encode(),
            new ClientFrame(0x2, new byte[10]) { Masked = false }.Encode(),
            new ClientFrame(0x2, new byte[10]) { Masked = false, LengthForm = 16 }.Encode(),
        })
        {
            var length7 = bytes[1] & 0x7F;
            var needed = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
            for (var prefix = 0; prefix < needed; prefix++)
            {
                Assert.False(WebSocketFrameHeader.TryRead(One(bytes[..prefix]), out _), $"{prefix} bytes of {Convert.ToHexString(bytes)}");
            }

            Assert.True(WebSocketFrameHeader.TryRead(One([.. bytes[..needed]]), out _));
        }
    }

    [Fact]
    public void An_unmasked_frame_has_no_key_in_its_header_length_and_is_a_violation()
    {
        var header = Read(new ClientFrame(0x2, [1, 2, 3, 4, 5]) { Masked = false }.Encode());
        Assert.False(header.Masked);
        Assert.Equal(2, header.HeaderLength);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, header.Check(false));
    }

    [Fact]
    public void A_header_split_across_pipe_segments_at_every_point_reads_the_same()
    {
        var bytes = new ClientFrame(0x2, new byte[70_000]) { MaskKey = Key }.Encode()[..14];
        var whole = Read(bytes);
        for (var a = 1; a < bytes.Length; a++)
        {
            for (var b = a; b < bytes.Length; b++)
            {
                Assert.True(WebSocketFrameHeader.TryRead(Split(bytes, a, b), out var split));
                Assert.Equal(whole, split);
            }

            Assert.False(WebSocketFrameHeader.TryRead(Split(bytes[..^1], a), out _));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(7)]
    public void Reserved_bits_are_a_violation(int reserved)
    {
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(new ClientFrame(0x2, [1]) { Reserved = reserved }.Encode()).Check(false));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(0xB)]
    [InlineData(0xF)]
    public void Reserved_opcodes_are_a_violation(int opcode)
    {
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(new ClientFrame(opcode, [1]).Encode()).Check(false));
    }

    [Theory]
    [InlineData(0x8)]
    [InlineData(0x9)]
    [InlineData(0xA)]
    public void A_control_frame_that_is_fragmented_or_longer_than_125_bytes_is_a_violation(int opcode)
    {
        var payload = opcode == 0x8 ? [0x03, 0xE8] : new byte[] { 1 };
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(new ClientFrame(opcode, payload) { Fin = false }.Encode()).Check(false));
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(new ClientFrame(opcode, new byte[126]).Encode()).Check(false));
        // 125 bytes is the longest a control frame may be, also between fragments of a message.
        Assert.Null(Read(new ClientFrame(opcode, [.. payload, .. new byte[125 - payload.Length]]).Encode()).Check(messageOpen: true));
    }

    [Fact]
    public void Fragments_follow_the_message_rules_and_text_is_refused_with_1003()
    {
        static WebSocketCloseStatus? Check(int opcode, bool fin, bool open) => Read(new ClientFrame(opcode, [1]) { Fin = fin }.Encode()).Check(open);
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Check(0x0, fin: true, open: false));
        Assert.Null(Check(0x0, fin: false, open: true));
        Assert.Null(Check(0x0, fin: true, open: true));
        Assert.Null(Check(0x2, fin: false, open: false));
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Check(0x2, fin: true, open: true));
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, Check(0x1, fin: true, open: false));
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, Check(0x1, fin: false, open: false));
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Check(0x1, fin: true, open: true));
        // A one-byte close body is judged from the header (ServerFrameModel rule 5).
        Assert.Equal(WebSocketCloseStatus.ProtocolError, Read(new ClientFrame(0x8, [3]).Encode()).Check(false));
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("03", false)]
    [InlineData("03E8", true)]
    [InlineData("03E9", true)]
    [InlineData("03EB", true)]
    [InlineData("03EC", false)] // 1004: reserved
    [InlineData("03ED", false)] // 1005: never sent
    [InlineData("03EE", false)] // 1006: never sent
    [InlineData("03EF", true)]
    [InlineData("03F6", true)] // 1014
    [InlineData("03F7", false)] // 1015: never sent
    [InlineData("03F8", false)] // 1016: unassigned
    [InlineData("0BB7", false)] // 2999
    [InlineData("0BB8", true)] // 3000
    [InlineData("1387", true)] // 4999
    [InlineData("1388", false)] // 5000
    [InlineData("03E8627965", true)] // "bye"
    [InlineData("03E8C328", false)] // not UTF-8
    public void A_close_body_is_an_allowed_code_and_a_utf8_reason(string hex, bool valid)
    {
        Assert.Equal(valid, WebSocketFrameHeader.IsValidClosePayload(Convert.FromHexString(hex)));
    }

    [Theory]
    [InlineData(0, 2)]
    [InlineData(125, 2)]
    [InlineData(126, 4)]
    [InlineData(65535, 4)]
    [InlineData(65536, 10)]
    public void Server_headers_use_the_shortest_form_unmasked_and_final(int length, int expected)
    {
        var payload = new byte[length];
        Random.Shared.NextBytes(payload);
        var frame = new byte[WebSocketFrameHeader.MaxServerHeaderLength + length];
        var written = WebSocketFrameHeader.WriteServerHeader(frame, 0x2, length);
        Assert.Equal(expected, written);
        payload.CopyTo(frame, written);
        var parsed = ServerFrame.TryParse(frame.AsSpan(0, written + length), out var consumed);
        Assert.NotNull(parsed);
        Assert.Equal(written + length, consumed);
        Assert.True(parsed.Fin && !parsed.Masked && parsed.Reserved == 0 && parsed.Opcode == 0x2);
        Assert.Equal(payload, parsed.Payload);
    }

    [Fact]
    public void Unmasking_in_pieces_at_any_offset_matches_the_rfc_byte_by_byte()
    {
        var random = new Random(6455);
        foreach (var length in new[] { 0, 1, 3, 4, 5, Vector<byte>.Count - 1, Vector<byte>.Count, Vector<byte>.Count + 3, 3 * Vector<byte>.Count + 1, 1000 })
        {
            var plain = new byte[length];
            random.NextBytes(plain);
            var masked = new ClientFrame(0x2, plain) { MaskKey = Key, LengthForm = 64 }.Encode()[14..];
            var header = Read([0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, .. Key]);
            for (var cut = 0; cut <= length; cut += Math.Max(1, length / 7))
            {
                var unmasked = new byte[length];
                long offset = 0;
                WebSocketFrameHeader.Unmask(masked.AsSpan(0, cut), unmasked, header.MaskKey, ref offset);
                Assert.Equal(cut, offset);
                WebSocketFrameHeader.Unmask(masked.AsSpan(cut), unmasked.AsSpan(cut), header.MaskKey, ref offset);
                Assert.Equal(length, offset);
                Assert.Equal(plain, unmasked);
            }

            // In place, as control frames are unmasked.
            long inPlace = 0;
            WebSocketFrameHeader.Unmask(masked, masked, header.MaskKey, ref inPlace);
            Assert.Equal(plain, masked);
        }
    }

    [Fact]
    public void The_handshake_answer_is_the_rfc_example()
    {
        // RFC 6455 1.3.
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", OuterWebSocketHandler.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    [Fact]
    public async Task Frames_written_a_byte_at_a_time_reach_the_inner_stream_pings_are_answered_and_a_close_ends_it()
    {
        var (connection, client, server) = Open();
        byte[] data = [.. Enumerable.Range(0, 40_000).Select(i => (byte)(i * 7))];
        byte[] frames =
        [
            .. new ClientFrame(0x2, data[..10]) { Fin = false }.Encode(),
            .. new ClientFrame(0x9, [0xAB, 0xCD]).Encode(),
            .. new ClientFrame(0x0, data[10..20_000]) { Fin = false, LengthForm = 64, MaskKey = [1, 2, 3, 4] }.Encode(),
            .. new ClientFrame(0xA, [9]).Encode(),
            .. new ClientFrame(0x0, []) { Fin = false }.Encode(),
            .. new ClientFrame(0x0, data[20_000..]).Encode(),
            .. new ClientFrame(0x9, []).Encode(),
            .. ClientFrame.Close(1000, "bye"u8.ToArray()).Encode(),
        ];
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < frames.Length; i += i < 200 ? 1 : 997)
            {
                await client.Writer.WriteAsync(frames.AsMemory(i, Math.Min(i < 200 ? 1 : 997, frames.Length - i)));
            }
        });

        var closed = new TaskCompletionSource();
        using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());
        var received = await ReadToEndAsync(connection.Transport.Input);
        await writing;
        Assert.Equal(data, received);
        // The peer's close is the inner stream's EOF, and ConnectionClosed fires (Kestrel aborts what runs on it).
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await connection.DisposeAsync();
        await connection.Completed;
        await server.Writer.CompleteAsync();
        var answer = ServerFrame.ParseAll((await ReadToEndAsync(server.Reader)).AsSpan(), out var trailing);
        Assert.Equal(0, trailing);
        Assert.Equal(["A:ABCD", "A:", "8:03E8"], answer.Select(f => $"{f.Opcode:X}:{Convert.ToHexString(f.Payload)}"));
    }

    [Fact]
    public async Task Inner_output_goes_out_as_binary_frames_and_a_text_message_is_refused_with_1003()
    {
        var (connection, client, server) = Open();
        await connection.Transport.Output.WriteAsync(new byte[] { 0x16, 0x03, 0x03 });
        var first = await ReadFrameAsync(server.Reader);
        Assert.Equal((0x2, "160303"), (first.Opcode, Convert.ToHexString(first.Payload)));

        await client.Writer.WriteAsync(new ClientFrame(0x1, "hi"u8.ToArray()).Encode());
        var refusal = await ReadFrameAsync(server.Reader);
        Assert.Equal(1003, refusal.CloseCode);
        Assert.True(connection.RefusedText);
        var error = await Assert.ThrowsAnyAsync<IOException>(async () => await ReadToEndAsync(connection.Transport.Input));
        Assert.True(ClosedByGatewayException.IsCause(error));

        // Nothing more is sent after the close frame: not the data still queued, not a second close.
        await connection.Transport.Output.WriteAsync(new byte[] { 0x17 });
        await connection.DisposeAsync();
        await server.Writer.CompleteAsync();
        Assert.Empty(await ReadToEndAsync(server.Reader));
    }

    [Fact]
    public async Task A_violation_closes_with_1002_and_fails_the_inner_stream()
    {
        var (connection, client, server) = Open();
        // Five payload bytes: the header is judged once 4 bytes follow its first 2, masked or not.
        await client.Writer.WriteAsync(new ClientFrame(0x2, [1, 2, 3, 4, 5]) { Masked = false }.Encode());
        var close = await ReadFrameAsync(server.Reader);
        Assert.Equal(1002, close.CloseCode);
        await Assert.ThrowsAnyAsync<IOException>(async () => await ReadToEndAsync(connection.Transport.Input));
        await connection.DisposeAsync();
        await server.Writer.CompleteAsync();
        Assert.Empty(await ReadToEndAsync(server.Reader));
    }

    [Fact]
    public async Task An_abort_fails_the_inner_stream_with_its_reason_and_sends_no_close_frame()
    {
        var (connection, _, server) = Open();
        var closed = new TaskCompletionSource();
        using var registration = connection.ConnectionClosed.Register(() => closed.TrySetResult());

        // As the governor's shedding does (through the outer request's abort): the reason must reach Kestrel, so the
        // TLS failure report knows the gateway closed the session itself.
        connection.Abort(new ClosedByGatewayException("shed"));
        var error = await Assert.ThrowsAnyAsync<IOException>(async () => await ReadToEndAsync(connection.Transport.Input));
        Assert.True(ClosedByGatewayException.IsCause(error), error.ToString());
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await connection.DisposeAsync();
        await server.Writer.CompleteAsync();
        Assert.Empty(await ReadToEndAsync(server.Reader));
    }

    /// <summary>A started tunnel connection on two in-memory pipes: <c>client</c> carries client frames in, <c>server</c> server frames out.</summary>
    private static (TunnelConnection Connection, Pipe Client, Pipe Server) Open()
    {
        var client = new Pipe();
        var server = new Pipe();
        var connection = new TunnelConnection(new Duplex(client.Reader, server.Writer), null, "test");
        connection.Start();
        return (connection, client, server);
    }

    private static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var bytes = new List<byte>();
        while (true)
        {
            var result = await reader.ReadAsync(timeout.Token);
            bytes.AddRange(result.Buffer.ToArray());
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return [.. bytes];
            }
        }
    }

    private static async Task<ServerFrame> ReadFrameAsync(PipeReader reader)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var result = await reader.ReadAsync(timeout.Token);
            var frame = ServerFrame.TryParse(result.Buffer.ToArray(), out var consumed);
            if (frame is not null)
            {
                reader.AdvanceTo(result.Buffer.GetPosition(consumed));
                return frame;
            }

            Assert.False(result.IsCompleted, "the server's output ended before a whole frame");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
