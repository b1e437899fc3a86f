using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record ErrorDetail(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("message")] string? Message);
