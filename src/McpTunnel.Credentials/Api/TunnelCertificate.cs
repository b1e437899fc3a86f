using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary><c>BetaTunnelCertificate</c>.</summary>
public sealed record TunnelCertificate(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("tunnel_id")] string TunnelId,
    [property: JsonPropertyName("fingerprint")] string Fingerprint,
    [property: JsonPropertyName("expires_at")] DateTimeOffset? ExpiresAt,
    [property: JsonPropertyName("created_at")] DateTimeOffset? CreatedAt,
    [property: JsonPropertyName("archived_at")] DateTimeOffset? ArchivedAt);
