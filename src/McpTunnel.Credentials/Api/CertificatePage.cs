using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record CertificatePage(
    [property: JsonPropertyName("data")] IReadOnlyList<TunnelCertificate> Data,
    [property: JsonPropertyName("next_page")] string? NextPage);
