namespace McpTunnel.Configuration;

/// <summary><c>upstream:</c>, which upstream addresses the gateway may dial and what it trusts for https ones.</summary>
public sealed record UpstreamConfig
{
    /// <summary>The networks the gateway may dial; the default is RFC 1918. Empty when validation is disabled.</summary>
    public IReadOnlyList<Ipv4Cidr> AllowedIps { get; init; } = Ipv4Cidr.Rfc1918;

    /// <summary>True when <c>allowed_ips</c> was set in the file (it replaces the default).</summary>
    public bool AllowedIpsConfigured { get; init; }

    public bool DisableIpValidation { get; init; }

    public string? CaFile { get; init; }

    public bool IncludeSystemCas { get; init; }
}
