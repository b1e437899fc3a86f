using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record TokenExchangeResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string? TokenType,
    [property: JsonPropertyName("expires_in")] long? ExpiresIn,
    [property: JsonPropertyName("scope")] string? Scope)
{
    public override string ToString() => "TokenExchangeResponse { AccessToken = (secret) }";
}
