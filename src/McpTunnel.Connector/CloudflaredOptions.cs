namespace McpTunnel.Connector;

/// <summary>How to run cloudflared (spec cloudflared.md, section 0 and 1.3).</summary>
public sealed record CloudflaredOptions
{
    /// <summary>The packaged binary.</summary>
    public const string DefaultBinary = "/usr/libexec/mcp-tunnel/cloudflared";

    public string Binary { get; init; } = DefaultBinary;

    /// <summary>The gateway's listener, given to cloudflared as <c>--url</c>.</summary>
    public required Uri GatewayUrl { get; init; }

    /// <summary>Fixed loopback metrics address, so <c>/ready</c> is always at the same place.</summary>
    public string MetricsAddress { get; init; } = "127.0.0.1:20241";

    /// <summary>A file of ours containing <c>{}</c>, so no host config file can replace <c>--url</c>.</summary>
    public required string ConfigFile { get; init; }

    /// <summary>Where the token is; handed over as <c>--token-file</c>, never in argv.</summary>
    public required TokenSource Token { get; init; }

    /// <summary>cloudflared's own drain time; shorter than ours so it finishes first.</summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromSeconds(25);

    /// <summary>Extra time after the grace period before SIGKILL (spec 0.5 suggests about 15 s at most).</summary>
    public TimeSpan KillMargin { get; init; } = TimeSpan.FromSeconds(5);

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
}

/// <summary>Where the tunnel token comes from, in the order <c>run</c> looks for it.</summary>
public sealed record TokenSource(string Path, string Description)
{
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
