using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record CreateCertificateRequest([property: JsonPropertyName("ca_certificate_pem")] string CaCertificatePem);
