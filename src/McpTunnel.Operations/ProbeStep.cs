namespace McpTunnel.Operations;

/// <summary>One step of a probe: what was checked, whether it passed, how long it took, and what was seen.</summary>
public sealed record ProbeStep(string Name, bool Ok, TimeSpan Elapsed, string Detail);
