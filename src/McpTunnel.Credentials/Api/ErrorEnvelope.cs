using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary>The standard Anthropic error envelope (spec 5.4).</summary>
public sealed record ErrorEnvelope(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("error")] ErrorDetail? Error,
    [property: JsonPropertyName("request_id")] string? RequestId);
