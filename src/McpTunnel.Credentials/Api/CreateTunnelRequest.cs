using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record CreateTunnelRequest([property: JsonPropertyName("display_name")] string? DisplayName);
