namespace McpTunnel.Commands;

/// <summary>Process exit codes; documented in docs/operations.md.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Invalid configuration, unusable files, a failed check or a failed probe.</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong.</summary>
    public const int Usage = 2;
}
