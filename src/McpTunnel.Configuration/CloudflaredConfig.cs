namespace McpTunnel.Configuration;

/// <summary>
/// <c>appliance.cloudflared</c>: the supervised connector of <c>mcp-tunnel run</c>. The defaults are stated here
/// only; the connector's options carry none of their own (run and doctor build them from this record).
/// </summary>
public sealed record CloudflaredConfig
{
    /// <summary>Where the package installs cloudflared, and the default of <see cref="Binary"/>.</summary>
    public const string PackagedBinary = "/usr/libexec/mcp-tunnel/cloudflared";

    /// <summary>The default of <see cref="MetricsAddr"/>: port 0, a free loopback port chosen at each start.</summary>
    public static readonly ListenAddress DefaultMetricsAddr = new("127.0.0.1", 0);

    /// <summary>False runs the gateway without a child (cloudflared runs elsewhere); <c>--no-connector</c> does the same.</summary>
    public bool Enabled { get; init; } = true;

    public string Binary { get; init; } = PackagedBinary;

    /// <summary>cloudflared's metrics listener, always loopback; port 0 is a free port chosen at each start (see CloudflaredOptions).</summary>
    public ListenAddress MetricsAddr { get; init; } = DefaultMetricsAddr;

    /// <summary>cloudflared's own drain on stop (<c>--grace-period</c>); never longer than <c>shutdown_timeout</c> (<see cref="StopBudget"/>).</summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(25);

    public string? Protocol { get; init; }

    public string? EdgeIpVersion { get; init; }
}
