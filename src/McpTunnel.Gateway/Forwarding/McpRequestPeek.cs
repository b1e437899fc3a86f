using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Gateway.Forwarding;

/// <summary>
/// Learns the JSON-RPC method (and the tool name of a <c>tools/call</c>) of an MCP POST for the access log,
/// without buffering: the request body is wrapped so that, as the forwarder streams it to the upstream, the
/// first <see cref="MaxBytes"/> are copied aside. After the exchange, a body that fitted whole is parsed for
/// those two names only; nothing else of the payload is kept or logged.
/// </summary>
internal static class McpRequestPeek
{
    public const int MaxBytes = 16 * 1024;

    /// <summary>Wraps the body of a JSON POST; returns null when there is nothing to peek at.</summary>
    public static CapturingStream? Attach(HttpRequest request)
    {
        if (!HttpMethods.IsPost(request.Method) || request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true
            || request.ContentLength is > MaxBytes)
        {
            return null;
        }

        var capture = new CapturingStream(request.Body);
        request.Body = capture;
        return capture;
    }

    public static (string? Method, string? Tool) Read(CapturingStream? capture) =>
        capture is { Complete: true } ? Parse(capture.Captured) : (null, null);

    internal static (string? Method, string? Tool) Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            string? method = null;
            string? tool = null;
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, null); // a batch or not an object: no single method to report
            }

            while (reader.Read() && reader.CurrentDepth >= 1)
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                var isMethod = reader.ValueTextEquals("method"u8);
                var isParams = reader.ValueTextEquals("params"u8);
                if (!reader.Read())
                {
                    break;
                }

                if (isMethod && reader.TokenType == JsonTokenType.String)
                {
                    method = Clip(reader.GetString());
                }
                else if (isParams && reader.TokenType == JsonTokenType.StartObject)
                {
                    while (reader.Read() && reader.CurrentDepth >= 2)
                    {
                        if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 2)
                        {
                            var isName = reader.ValueTextEquals("name"u8);
                            if (!reader.Read())
                            {
                                break;
                            }

                            if (isName && reader.TokenType == JsonTokenType.String)
                            {
                                tool = Clip(reader.GetString());
                            }
                            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                            {
                                reader.Skip();
                            }
                        }
                    }
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }

            return (method, method == "tools/call" ? tool : null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Whatever the body is, the access log must never fail the request (found by FuzzTests).
            return (null, null);
        }
    }

    private static string? Clip(string? value) => value is { Length: > 64 } ? value[..64] : value;

    /// <summary>A read-through stream that keeps a copy of the first bytes it passes on.</summary>
    internal sealed class CapturingStream(Stream inner) : Stream
    {
        private readonly byte[] _buffer = new byte[MaxBytes];
        private int _length;
        private bool _overflow;

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
            Keep(buffer.Span[..read]);
            return read;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            Keep(buffer.AsSpan(offset, read));
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private void Keep(ReadOnlySpan<byte> data)
        {
            BytesRead += data.Length;
            if (data.Length == 0)
            {
                Complete = !_overflow;
                return;
            }

            if (_overflow || _length + data.Length > _buffer.Length)
            {
                _overflow = true;
                return;
            }

            data.CopyTo(_buffer.AsSpan(_length));
            _length += data.Length;
        }

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
