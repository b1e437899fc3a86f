namespace McpTunnel.Credentials;

/// <summary>What <c>setup init</c> was asked to do.</summary>
public sealed record SetupInitOptions
{
    public required DataDirectory Output { get; init; }

    public string? TunnelId { get; init; }

    public TimeSpan CertDuration { get; init; } = CertificateFactory.DefaultServerValidity;

    public string? TokenVersion { get; init; }

    public KeyAlgorithm ServerKey { get; init; } = KeyAlgorithm.EcdsaP256;

    /// <summary>Name given to a tunnel this run creates; a unique suffix is appended.</summary>
    public string DisplayNamePrefix { get; init; } = $"mcp-tunnel {Environment.MachineName}";
}
