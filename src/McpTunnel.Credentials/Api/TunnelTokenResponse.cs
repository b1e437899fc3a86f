using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary><c>BetaTunnelToken</c>: the connector token is a credential; never logged.</summary>
public sealed record TunnelTokenResponse(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("tunnel_token")] string Value)
{
    public override string ToString() => $"TunnelTokenResponse {{ Id = {Id}, Value = (secret) }}";
}
