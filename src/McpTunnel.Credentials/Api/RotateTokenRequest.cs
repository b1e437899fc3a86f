using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record RotateTokenRequest([property: JsonPropertyName("reason")] string? Reason);
