namespace McpTunnel.Connector;

/// <summary>
/// How to run cloudflared (spec cloudflared.md, section 0 and 1.3). What <c>appliance.cloudflared</c> and the stop
/// budget set is required here, with no default of its own: the defaults are <c>CloudflaredConfig</c>'s and
/// <c>StopBudget</c>'s, stated once.
/// </summary>
public sealed record CloudflaredOptions
{
    public required string Binary { get; init; }

    /// <summary>The gateway's listener, given to cloudflared as <c>--url</c>.</summary>
    public required Uri GatewayUrl { get; init; }

    /// <summary>
    /// cloudflared's metrics listener. Port 0 (the default) lets the kernel pick a free port at each start; the
    /// child's own log line says which, and <c>/ready</c> is read there. A fixed port can collide with another
    /// cloudflared on the host and rules out make-before-break rotation (two children cannot share it).
    /// </summary>
    public required string MetricsAddress { get; init; }

    /// <summary>True when <see cref="MetricsAddress"/> names a fixed port.</summary>
    public bool FixedMetricsPort => !MetricsAddress.EndsWith(":0", StringComparison.Ordinal);

    /// <summary>A file of ours containing <c>{}</c>, so no host config file can replace <c>--url</c>.</summary>
    public required string ConfigFile { get; init; }

    /// <summary>Where the token is; handed over as <c>--token-file</c>, never in argv.</summary>
    public required TokenSource Token { get; init; }

    /// <summary>cloudflared's own drain time; shorter than ours so it finishes first.</summary>
    public required TimeSpan GracePeriod { get; init; }

    /// <summary>Extra time after the grace period before SIGKILL (spec 0.5 suggests about 15 s at most).</summary>
    public required TimeSpan KillMargin { get; init; }

    /// <summary>How long after the stop signal before SIGKILL.</summary>
    public TimeSpan KillAfter => GracePeriod + KillMargin;

    public string? Protocol { get; init; }

    public string? EdgeIpVersion { get; init; }

    public string Label { get; init; } = $"mcp-tunnel-{Environment.MachineName}";

    public TimeSpan RestartBackoffInitial { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan RestartBackoffMax { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>After exit 255 or an unexpected exit 0: a configuration problem, retried slowly.</summary>
    public TimeSpan ConfigErrorBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often <c>/ready</c> is polled.</summary>
    public TimeSpan ReadyPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the binary is looked at while waiting for it to change (too old, or rejecting its command line).</summary>
    public TimeSpan BinaryPollInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a rotation waits for the new cloudflared to connect before it gives up and keeps the old one.</summary>
    public TimeSpan RotationTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Writes a secret file atomically with mode 0600 (path, content); used for <see cref="TokenSource.Value"/>. The
    /// caller hands in the one atomic writer (the credentials library's <c>AtomicFile.Write</c>), which the connector
    /// may not reference (ArchitectureTests), instead of keeping a second, weaker copy here.
    /// </summary>
    public required Action<string, string> WriteSecretFile { get; init; }
}
