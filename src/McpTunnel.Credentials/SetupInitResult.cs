namespace McpTunnel.Credentials;

/// <summary>What a run did, for the summary it prints. Holds no secret.</summary>
public sealed record SetupInitResult(
    string TunnelId, string TunnelDomain, bool TunnelCreated, bool CaGenerated, bool CaRegistered, string CaFingerprint,
    DateTimeOffset ServerCertificateNotAfter, bool TokenRotated, string? TokenVersion);
