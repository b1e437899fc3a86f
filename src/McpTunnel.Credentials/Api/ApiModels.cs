using System.Text.Json.Serialization;
using McpTunnel.Credentials;

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

public sealed record TokenExchangeResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string? TokenType,
    [property: JsonPropertyName("expires_in")] long? ExpiresIn,
    [property: JsonPropertyName("scope")] string? Scope)
{
    public override string ToString() => "TokenExchangeResponse { AccessToken = (secret) }";
}

/// <summary><c>BetaTunnel</c> (spec 5.3).</summary>
public sealed record Tunnel(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("domain")] string Domain,
    [property: JsonPropertyName("display_name")] string? DisplayName,
    [property: JsonPropertyName("created_at")] DateTimeOffset? CreatedAt,
    [property: JsonPropertyName("archived_at")] DateTimeOffset? ArchivedAt);

public sealed record TunnelPage(
    [property: JsonPropertyName("data")] IReadOnlyList<Tunnel> Data,
    [property: JsonPropertyName("next_page")] string? NextPage);

/// <summary><c>BetaTunnelToken</c>: the connector token is a credential; never logged.</summary>
public sealed record TunnelToken(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("tunnel_token")] string Value)
{
    public override string ToString() => $"TunnelToken {{ Id = {Id}, Value = (secret) }}";
}

/// <summary><c>BetaTunnelCertificate</c>.</summary>
public sealed record TunnelCertificate(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("tunnel_id")] string TunnelId,
    [property: JsonPropertyName("fingerprint")] string Fingerprint,
    [property: JsonPropertyName("expires_at")] DateTimeOffset? ExpiresAt,
    [property: JsonPropertyName("created_at")] DateTimeOffset? CreatedAt,
    [property: JsonPropertyName("archived_at")] DateTimeOffset? ArchivedAt);

public sealed record CertificatePage(
    [property: JsonPropertyName("data")] IReadOnlyList<TunnelCertificate> Data,
    [property: JsonPropertyName("next_page")] string? NextPage);

public sealed record CreateTunnelRequest([property: JsonPropertyName("display_name")] string? DisplayName);

public sealed record CreateCertificateRequest([property: JsonPropertyName("ca_certificate_pem")] string CaCertificatePem);

public sealed record RotateTokenRequest([property: JsonPropertyName("reason")] string? Reason);

/// <summary>The standard Anthropic error envelope (spec 5.4).</summary>
public sealed record ErrorEnvelope(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("error")] ErrorDetail? Error,
    [property: JsonPropertyName("request_id")] string? RequestId);

public sealed record ErrorDetail(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("message")] string? Message);

/// <summary>Source-generated serialization: no reflection under Native AOT.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TokenExchangeRequest))]
[JsonSerializable(typeof(TokenExchangeResponse))]
[JsonSerializable(typeof(Tunnel))]
[JsonSerializable(typeof(TunnelPage))]
[JsonSerializable(typeof(TunnelToken))]
[JsonSerializable(typeof(TunnelCertificate))]
[JsonSerializable(typeof(CertificatePage))]
[JsonSerializable(typeof(CreateTunnelRequest))]
[JsonSerializable(typeof(CreateCertificateRequest))]
[JsonSerializable(typeof(RotateTokenRequest))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(SetupState))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
