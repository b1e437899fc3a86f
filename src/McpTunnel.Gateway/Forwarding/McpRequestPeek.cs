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

        var capture = new CapturingStream(request.Body, request.ContentLength);
        request.Body = capture;
        return capture;
    }

    /// <summary>The two names, once the exchange is over; the copy goes back to the pool.</summary>
    public static (string? Method, string? Tool) Read(CapturingStream? capture)
    {
        if (capture is null)
        {
            return (null, null);
        }

        var names = capture.Complete ? Parse(capture.Captured) : (null, null);
        capture.Release();
        return names;
    }

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
}
