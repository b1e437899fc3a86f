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

    /// <summary>Writes a secret file atomically with mode 0600 (path, content); used for <see cref="TokenSource.Value"/>.</summary>
    public Action<string, string> WriteSecretFile { get; init; } = SecretFile.Write;
}

/// <summary>Where the tunnel token comes from, in the order <c>run</c> looks for it.</summary>
public sealed record TokenSource(string Path, string Description)
{
    /// <summary>
    /// Set when <see cref="Path"/> is a copy made for cloudflared (from <c>TUNNEL_TOKEN</c>): the supervisor writes it
    /// (0600) just before each start and deletes it when that cloudflared has exited, so the secret is on disk only
    /// while a child may need it.
    /// </summary>
    public string? Value { get; init; }

    /// <summary>
    /// Where a rotated token is written when that is not <see cref="Path"/>: a systemd credential is a copy taken at
    /// start, and setup init or token set rewrite the data directory's file it was loaded from. This is the file to
    /// watch, and the new token is taken from it. Null: rotations land at <see cref="Path"/> itself.
    /// </summary>
    public TokenSource? RotatedAt { get; init; }

    /// <summary>The file whose changes mean a new token.</summary>
    public TokenSource Watched => RotatedAt ?? this;

    /// <summary>
    /// <c>$CREDENTIALS_DIRECTORY/tunnel-token</c> under systemd (LoadCredential=), else the data directory's
    /// <c>tunnel-token</c>; null when neither exists (the caller may then use <c>TUNNEL_TOKEN</c>).
    /// </summary>
    public static TokenSource? Find(string dataDirectory, Func<string, string?> environment)
    {
        var file = System.IO.Path.Combine(dataDirectory, "tunnel-token");
        var inData = File.Exists(file) ? new TokenSource(file, file) : null;
        if (environment("CREDENTIALS_DIRECTORY") is { Length: > 0 } credentials && File.Exists(System.IO.Path.Combine(credentials, "tunnel-token")))
        {
            return new TokenSource(System.IO.Path.Combine(credentials, "tunnel-token"), "systemd credential tunnel-token") { RotatedAt = inData };
        }

        return inData;
    }
}
