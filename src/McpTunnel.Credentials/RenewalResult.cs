namespace McpTunnel.Credentials;

/// <summary>What a renewal did.</summary>
public sealed record RenewalResult(bool Renewed, DateTimeOffset NotAfter, string Reason);
