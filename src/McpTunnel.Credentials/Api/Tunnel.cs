using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary><c>BetaTunnel</c> (spec 5.3).</summary>
public sealed record Tunnel(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("domain")] string Domain,
    [property: JsonPropertyName("display_name")] string? DisplayName,
    [property: JsonPropertyName("created_at")] DateTimeOffset? CreatedAt,
    [property: JsonPropertyName("archived_at")] DateTimeOffset? ArchivedAt);
