using System.Buffers.Binary;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>One client-to-server WebSocket frame as a fuzzer describes it before encoding (RFC 6455 5.2).</summary>
public sealed record ClientFrame(int Opcode, byte[] Payload)
{
    public bool Fin { get; init; } = true;

    /// <summary>RSV1..RSV3 as the three bits under the FIN bit (0..7).</summary>
    public int Reserved { get; init; }

    public bool Masked { get; init; } = true;

    public byte[] MaskKey { get; init; } = [0x5A, 0xC3, 0x17, 0x9E];

    /// <summary>7 = the 7-bit form where it fits; 16 or 64 force a (possibly non-minimal) longer form.</summary>
    public int LengthForm { get; init; } = 7;

    /// <summary>A length to write instead of the payload's (a lie about the payload size).</summary>
    public ulong? LengthOverride { get; init; }

    public static ClientFrame Close(ushort? code, byte[]? reason = null) =>
        new(0x8, code is null ? [] : [(byte)(code >> 8), (byte)code, .. reason ?? []]);

    public byte[] Encode()
    {
        var length = LengthOverride ?? (ulong)Payload.Length;
        var header = new List<byte>(14) { (byte)((Fin ? 0x80 : 0) | ((Reserved & 7) << 4) | (Opcode & 0xF)) };
        var mask = Masked ? 0x80 : 0;
        var form = LengthForm == 7 && length > 125 ? (length > ushort.MaxValue ? 64 : 16) : LengthForm == 16 && length > ushort.MaxValue ? 64 : LengthForm;
        switch (form)
        {
            case 7:
                header.Add((byte)(mask | (int)length));
                break;
            case 16:
                header.Add((byte)(mask | 126));
                header.Add((byte)(length >> 8));
                header.Add((byte)length);
                break;
            default:
                header.Add((byte)(mask | 127));
                var wide = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(wide, length);
                header.AddRange(wide);
                break;
        }

        if (!Masked)
        {
            return [.. header, .. Payload];
        }

        var masked = new byte[Payload.Length];
        for (var i = 0; i < masked.Length; i++)
        {
            masked[i] = (byte)(Payload[i] ^ MaskKey[i % 4]);
        }

        return [.. header, .. MaskKey, .. masked];
    }
}

/// <summary>A frame the server sent, as parsed by the test client.</summary>
public sealed record ServerFrame(bool Fin, int Reserved, int Opcode, bool Masked, byte[] Payload)
{
    /// <summary>The close code of a close frame with a payload, else null.</summary>
    public int? CloseCode => Opcode == 0x8 && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    /// <summary>
    /// Splits what the server sent into frames. A trailing partial frame (the connection ended inside it) is
    /// returned in <paramref name="trailing"/>.
    /// </summary>
    public static List<ServerFrame> ParseAll(ReadOnlySpan<byte> bytes, out int trailing)
    {
        var frames = new List<ServerFrame>();
        var position = 0;
        while (TryParse(bytes[position..], out var consumed) is { } frame)
        {
            frames.Add(frame);
            position += consumed;
        }

        trailing = bytes.Length - position;
        return frames;
    }

    /// <summary>The first whole frame of <paramref name="bytes"/> and its length, or null when it is incomplete.</summary>
    public static ServerFrame? TryParse(ReadOnlySpan<byte> bytes, out int consumed)
    {
        consumed = 0;
        if (bytes.Length < 2)
        {
            return null;
        }

        var length = (ulong)(bytes[1] & 0x7F);
        var headerLength = length == 126 ? 4 : length == 127 ? 10 : 2;
        if (bytes.Length < headerLength)
        {
            return null;
        }

        length = length == 126 ? BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]) : length == 127 ? BinaryPrimitives.ReadUInt64BigEndian(bytes[2..]) : length;
        var masked = (bytes[1] & 0x80) != 0;
        headerLength += masked ? 4 : 0;
        if ((ulong)bytes.Length < (ulong)headerLength + length)
        {
            return null;
        }

        consumed = headerLength + (int)length;
        return new ServerFrame((bytes[0] & 0x80) != 0, (bytes[0] >> 4) & 7, bytes[0] & 0xF, masked, bytes.Slice(headerLength, (int)length).ToArray());
    }
}

/// <summary>
/// What a server-side RFC 6455 parser makes of a client byte stream, following the rules of .NET's
/// <c>ManagedWebSocket</c> (the parser Kestrel's WebSocket middleware uses): the data bytes it delivers, the
/// pings it answers, and the first thing that ends the stream.
/// </summary>
/// <remarks>
/// The rules, in the order the parser applies them to each frame:
/// 1. It waits for 2 + 4 (mask, even when the mask bit is clear) + 0/2/8 length bytes before judging a header;
///    EOF before that (or inside a payload) ends the WebSocket without a close frame.
/// 2. RSV2/RSV3 set, a 64-bit length with the top bit set, or RSV1 without negotiated compression: close 1002.
/// 3. An unmasked frame: close 1002 (RFC 6455 5.1).
/// 4. Continuation without an open message, a data frame inside an open message, a control frame that is
///    fragmented or longer than 125 bytes, or an unknown opcode: close 1002.
/// 5. A close payload of one byte (judged from the header, before the payload arrives), an invalid code or a reason that is not UTF-8: close 1002; a valid close
///    ends the stream (the reader sees EOF).
/// 6. The gateway's own rule on top (decision 0003, question 2): a text message is refused with close 1003 as soon
///    as the header of its first frame is complete. Its payload is never read, so it is never judged as UTF-8 (1007).
/// </remarks>
public sealed class ServerFrameModel
{
    public enum Outcome
    {
        /// <summary>The client's bytes ran out (EOF) at a frame boundary or inside a frame.</summary>
        Eof,

        /// <summary>A valid close frame from the client.</summary>
        ClientClose,

        /// <summary>A protocol violation the server answers with a close frame.</summary>
        Violation,
    }

    public List<byte> Data { get; } = [];

    public List<byte[]> Pings { get; } = [];

    public Outcome Ending { get; private set; } = Outcome.Eof;

    /// <summary>The close codes the server may send for <see cref="Outcome.Violation"/>.</summary>
    public int[] ViolationCodes { get; private set; } = [];

    /// <summary>
    /// Set when the outcome depends on how TCP splits the bytes, so only the weak checks apply. (It was needed for
    /// text frames cut by EOF after an invalid UTF-8 byte; since text is refused at its header, nothing sets it.)
    /// </summary>
    public bool Ambiguous { get; private set; }

    public string Why { get; private set; } = "";

    /// <summary>True when the bytes ran out exactly at the end of a frame (more frames could follow).</summary>
    public bool AtFrameBoundary { get; private set; }

    public static ServerFrameModel Run(ReadOnlySpan<byte> bytes)
    {
        var model = new ServerFrameModel();
        model.Parse(bytes);
        return model;
    }

    private void Violate(string why, params int[] codes)
    {
        Ending = Outcome.Violation;
        ViolationCodes = codes;
        Why = why;
    }

    private void Parse(ReadOnlySpan<byte> bytes)
    {
        var position = 0;
        var messageOpen = false;
        while (true)
        {
            var rest = bytes[position..];
            if (rest.Length < 2)
            {
                AtFrameBoundary = rest.Length == 0;
                Why = "EOF at a frame header";
                return;
            }

            var fin = (rest[0] & 0x80) != 0;
            var opcode = rest[0] & 0xF;
            var masked = (rest[1] & 0x80) != 0;
            var length7 = rest[1] & 0x7F;
            var extension = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
            if (rest.Length < 2 + 4 + extension)
            {
                Why = "EOF inside a frame header";
                return;
            }

            var length = length7 == 126 ? BinaryPrimitives.ReadUInt16BigEndian(rest[2..]) : length7 == 127 ? BinaryPrimitives.ReadInt64BigEndian(rest[2..]) : length7;
            if ((rest[0] & 0x30) != 0)
            {
                Violate("RSV2/RSV3 set", 1002);
                return;
            }

            if (length < 0)
            {
                Violate("64-bit length with the top bit set", 1002);
                return;
            }

            if ((rest[0] & 0x40) != 0)
            {
                Violate("RSV1 without compression", 1002);
                return;
            }

            if (!masked)
            {
                Violate("unmasked client frame", 1002);
                return;
            }

            var headerLength = 2 + extension + 4;
            var mask = rest.Slice(2 + extension, 4).ToArray();
            switch (opcode)
            {
                case 0x0 when !messageOpen:
                    Violate("continuation without a message", 1002);
                    return;
                case 0x1 or 0x2 when messageOpen:
                    Violate("data frame inside a fragmented message", 1002);
                    return;
                case 0x8 or 0x9 or 0xA when length > 125 || !fin:
                    Violate("fragmented or long control frame", 1002);
                    return;
                case 0x0 or 0x1 or 0x2 or 0x8 or 0x9 or 0xA:
                    break;
                default:
                    Violate($"unknown opcode {opcode}", 1002);
                    return;
            }

            if (opcode == 0x8 && length == 1)
            {
                // Judged from the header alone, before the payload is read.
                Violate("one-byte close payload", 1002);
                return;
            }

            if (opcode == 0x1)
            {
                // Judged from the header alone: the gateway sends 1003 before it reads the payload.
                Violate("text message", 1003);
                return;
            }

            var available = rest.Length - headerLength;
            var payload = rest.Slice(headerLength, (int)Math.Min(length, available)).ToArray();
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= mask[i % 4];
            }

            if (length > available)
            {
                // Data frames (binary, or continuations of a binary message) deliver what arrived before EOF.
                if (opcode is 0x0 or 0x2)
                {
                    Data.AddRange(payload);
                }

                Why = "EOF inside a payload";
                return;
            }

            position += headerLength + (int)length;
            switch (opcode)
            {
                case 0x9:
                    Pings.Add(payload);
                    continue;
                case 0xA:
                    continue;
                case 0x8:
                    if (payload.Length == 1)
                    {
                        Violate("one-byte close payload", 1002);
                        return;
                    }

                    if (payload.Length >= 2 && !ValidCloseCode(BinaryPrimitives.ReadUInt16BigEndian(payload)))
                    {
                        Violate("invalid close code", 1002);
                        return;
                    }

                    if (payload.Length > 2 && !System.Text.Unicode.Utf8.IsValid(payload.AsSpan(2)))
                    {
                        Violate("close reason is not UTF-8", 1002);
                        return;
                    }

                    Ending = Outcome.ClientClose;
                    Why = "client close";
                    return;
            }

            Data.AddRange(payload);
            messageOpen = !fin;
        }
    }

    private static bool ValidCloseCode(int code) =>
        code is >= 3000 and < 5000 or 1000 or 1001 or 1002 or 1003 or 1007 or 1008 or 1009 or 1010 or 1011 or 1012 or 1013 or 1014;
}
