using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

/// <summary>Source-generated serialization: no reflection under Native AOT.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TokenExchangeRequest))]
[JsonSerializable(typeof(TokenExchangeResponse))]
[JsonSerializable(typeof(Tunnel))]
[JsonSerializable(typeof(TunnelPage))]
[JsonSerializable(typeof(TunnelTokenResponse))]
[JsonSerializable(typeof(TunnelCertificate))]
[JsonSerializable(typeof(CertificatePage))]
[JsonSerializable(typeof(CreateTunnelRequest))]
[JsonSerializable(typeof(CreateCertificateRequest))]
[JsonSerializable(typeof(RotateTokenRequest))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(SetupState))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
