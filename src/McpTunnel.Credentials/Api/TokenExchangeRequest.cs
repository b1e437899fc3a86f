using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary>RFC 7523 jwt-bearer exchange body (spec 5.6). Never logged: it carries the identity token.</summary>
public sealed record TokenExchangeRequest(
    [property: JsonPropertyName("grant_type")] string GrantType,
    [property: JsonPropertyName("assertion")] string Assertion,
    [property: JsonPropertyName("federation_rule_id")] string FederationRuleId,
    [property: JsonPropertyName("organization_id")] string OrganizationId,
    [property: JsonPropertyName("workspace_id")] string? WorkspaceId,
    [property: JsonPropertyName("service_account_id")] string? ServiceAccountId)
{
    public const string JwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    public override string ToString() => $"TokenExchangeRequest {{ FederationRuleId = {FederationRuleId}, Assertion = (secret) }}";
}
