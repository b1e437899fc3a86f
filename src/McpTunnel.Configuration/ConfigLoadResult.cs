namespace McpTunnel.Configuration;

/// <summary>The outcome of reading a configuration: a config when there were no errors, and every problem found.</summary>
public sealed record ConfigLoadResult(GatewayConfig? Config, IReadOnlyList<ConfigProblem> Problems)
{
    public IEnumerable<ConfigProblem> Errors => Problems.Where(p => !p.IsWarning);

    public IEnumerable<ConfigProblem> Warnings => Problems.Where(p => p.IsWarning);

    public bool Succeeded => Config is not null;

    /// <summary>The tunnel domain the file (or flag) gave, also when the file has errors; null when it could not be read.</summary>
    public string? TunnelDomain { get; init; }

    /// <summary><c>appliance.data_dir</c>, also when the file has errors; null when it could not be read.</summary>
    public string? DataDir { get; init; }
}
