namespace McpTunnel.Credentials;

/// <summary>One requirement, whether it holds, what was seen, and how to fix it when it does not.</summary>
public sealed record RequirementCheck(string Subject, string Requirement, bool Passed, string Detail, string? Fix = null);
