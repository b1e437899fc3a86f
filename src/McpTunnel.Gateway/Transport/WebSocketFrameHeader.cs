using System.Buffers;
using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Numerics;
using System.Runtime.InteropServices;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// The RFC 6455 frame header codec of the outer transport (decision 0018): reads a client frame header from the
/// outer connection's pipe, judges it by the rules .NET's <c>ManagedWebSocket</c> applied before this codec replaced
/// it (the frame fuzzer's model, <c>ServerFrameModel</c>, pins them), unmasks payloads and writes server headers.
/// </summary>
/// <remarks>
/// The frame layout (RFC 6455 5.2): byte 0 is FIN, RSV1..RSV3 and the opcode; byte 1 is MASK and a 7-bit length,
/// where 126 means a 16-bit and 127 a 64-bit big-endian length follows; then a 4-byte masking key when MASK is set.
/// </remarks>
internal readonly record struct WebSocketFrameHeader(bool Fin, int Reserved, int Opcode, bool Masked, long PayloadLength, int MaskKey, int HeaderLength)
{
    public const int Continuation = 0x0;
    public const int Text = 0x1;
    public const int Binary = 0x2;
    public const int Close = 0x8;
    public const int Ping = 0x9;
    public const int Pong = 0xA;

    /// <summary>RFC 6455 5.5: control frames carry at most 125 bytes.</summary>
    public const int MaxControlPayload = 125;

    /// <summary>The longest server header: 2 bytes and a 64-bit length (RFC 6455 5.2; server frames are unmasked).</summary>
    public const int MaxServerHeaderLength = 10;

    /// <summary>Close, ping and pong (RFC 6455 5.5: opcodes with the high bit set).</summary>
    public bool IsControl => (Opcode & 0x8) != 0;

    /// <summary>
    /// Reads the header at the start of <paramref name="buffer"/>, which may span pipe segments. False until the
    /// header is complete: 2 bytes, the extended length, and 4 bytes for the masking key. The key's 4 bytes are
    /// waited for even when MASK is clear, as <c>ManagedWebSocket</c> did: an unmasked client frame is judged (and
    /// refused, RFC 6455 5.1) only once those bytes are there, so a stream cut short before them ends by EOF alone.
    /// A 64-bit length with the most significant bit set (which RFC 6455 5.2 forbids) comes back negative.
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> buffer, out WebSocketFrameHeader header)
    {
        header = default;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[14];
        var available = (int)Math.Min(buffer.Length, bytes.Length);
        buffer.Slice(0, available).CopyTo(bytes);
        var length7 = bytes[1] & 0x7F;
        var extension = length7 switch { 126 => 2, 127 => 8, _ => 0 };
        if (available < 2 + extension + 4)
        {
            return false;
        }

        long length = extension switch
        {
            2 => BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]),
            8 => BinaryPrimitives.ReadInt64BigEndian(bytes[2..]),
            _ => length7,
        };
        var masked = (bytes[1] & 0x80) != 0;
        header = new WebSocketFrameHeader(
            Fin: (bytes[0] & 0x80) != 0,
            Reserved: (bytes[0] >> 4) & 0x7,
            Opcode: bytes[0] & 0xF,
            Masked: masked,
            PayloadLength: length,
            // Network order kept as read, so byte i of the key is byte i of this int in memory (see Unmask).
            MaskKey: masked ? BitConverter.ToInt32(bytes.Slice(2 + extension, 4)) : 0,
            HeaderLength: 2 + extension + (masked ? 4 : 0));
        return true;
    }

    /// <summary>
    /// What is wrong with this client frame, or null when it is acceptable. <paramref name="messageOpen"/> says a
    /// fragmented data message is in progress. 1002 (protocol error, RFC 6455 7.4.1) for a violation; 1003
    /// (unsupported data) for a text message, which the gateway refuses at its first header (decision 0003).
    /// </summary>
    public WebSocketCloseStatus? Check(bool messageOpen)
    {
        // RFC 6455 5.2: no extension was negotiated, so every RSV bit must be 0; the length's top bit must be 0.
        if (Reserved != 0 || PayloadLength < 0)
        {
            return WebSocketCloseStatus.ProtocolError;
        }

        // RFC 6455 5.1: a server closes the connection when a client frame is not masked.
        if (!Masked)
        {
            return WebSocketCloseStatus.ProtocolError;
        }

        switch (Opcode)
        {
            // RFC 6455 5.4: a continuation needs an open message; a new data message cannot start inside one.
            case Continuation when !messageOpen:
            case Text or Binary when messageOpen:
                return WebSocketCloseStatus.ProtocolError;
            // RFC 6455 5.5: control frames are never fragmented and carry at most 125 bytes.
            case Close or Ping or Pong when !Fin || PayloadLength > MaxControlPayload:
                return WebSocketCloseStatus.ProtocolError;
            // RFC 6455 5.5.1: a close body is empty or starts with a 2-byte code; one byte is judged here already.
            case Close when PayloadLength == 1:
                return WebSocketCloseStatus.ProtocolError;
            case Text:
                return WebSocketCloseStatus.InvalidMessageType;
            case Continuation or Binary or Close or Ping or Pong:
                return null;
            // RFC 6455 5.2: opcodes 3-7 and 0xB-0xF are reserved.
            default:
                return WebSocketCloseStatus.ProtocolError;
        }
    }

    /// <summary>
    /// RFC 6455 5.5.1 and 7.4: an empty close body, or a 2-byte code a peer may send followed by a UTF-8 reason.
    /// </summary>
    public static bool IsValidClosePayload(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 0)
        {
            return true;
        }

        if (payload.Length == 1)
        {
            return false;
        }

        // 1004-1006 and 1015 are reserved and never sent; 1016-2999 are unassigned; 3000-4999 are for applications.
        var code = BinaryPrimitives.ReadUInt16BigEndian(payload);
        var valid = code is >= 3000 and < 5000 or >= 1000 and <= 1003 or >= 1007 and <= 1014;
        return valid && System.Text.Unicode.Utf8.IsValid(payload[2..]);
    }

    /// <summary>
    /// Writes a server frame header (FIN set, no RSV bits, unmasked as RFC 6455 5.1 requires of a server) with the
    /// shortest length form (RFC 6455 5.2); returns its length, 2, 4 or 10 bytes.
    /// </summary>
    public static int WriteServerHeader(Span<byte> destination, int opcode, long payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        destination[0] = (byte)(0x80 | opcode);
        if (payloadLength <= 125)
        {
            destination[1] = (byte)payloadLength;
            return 2;
        }

        if (payloadLength <= ushort.MaxValue)
        {
            destination[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)payloadLength);
            return 4;
        }

        destination[1] = 127;
        BinaryPrimitives.WriteInt64BigEndian(destination[2..], payloadLength);
        return 10;
    }

    /// <summary>
    /// RFC 6455 5.3: payload byte i is XORed with key byte (i mod 4). Copies <paramref name="source"/> into
    /// <paramref name="destination"/> unmasked; <paramref name="offset"/> is the payload position of the first
    /// byte (so a payload may arrive in pieces) and is advanced past the copied bytes.
    /// </summary>
    public static void Unmask(ReadOnlySpan<byte> source, Span<byte> destination, int maskKey, ref long offset)
    {
        Span<byte> key = stackalloc byte[4];
        MemoryMarshal.Write(key, in maskKey);
        var start = (int)(offset & 3);
        var i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<byte>.Count)
        {
            // The key repeated across a vector, rotated so its first lane lines up with this payload position.
            Span<byte> pattern = stackalloc byte[Vector<byte>.Count];
            for (var j = 0; j < pattern.Length; j++)
            {
                pattern[j] = key[(start + j) & 3];
            }

            var mask = new Vector<byte>(pattern);
            for (; i <= source.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                (new Vector<byte>(source[i..]) ^ mask).CopyTo(destination[i..]);
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = (byte)(source[i] ^ key[(start + i) & 3]);
        }

        offset += source.Length;
    }
}
