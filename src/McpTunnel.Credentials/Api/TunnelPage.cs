using System.Text.Json.Serialization;

namespace McpTunnel.Credentials.Api;

public sealed record TunnelPage(
    [property: JsonPropertyName("data")] IReadOnlyList<Tunnel> Data,
    [property: JsonPropertyName("next_page")] string? NextPage);
