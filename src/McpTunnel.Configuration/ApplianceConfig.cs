namespace McpTunnel.Configuration;

/// <summary>Settings the original proxy does not have. Every one is optional, with the default shown.</summary>
public sealed record ApplianceConfig
{
    /// <summary>How long a TCP connect to an upstream may take before the caller gets 504.</summary>
    public TimeSpan UpstreamConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the inner TLS handshake may take.</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often <c>tls.cert_file</c> and <c>tls.key_file</c> are checked for changes.</summary>
    public TimeSpan CertPollInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Interval of WebSocket pings to cloudflared; zero turns them off.</summary>
    public TimeSpan WebSocketKeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Time without a byte in either direction after which an upstream exchange is abandoned. Zero (the
    /// default) means never: a tool call may take many minutes and an SSE stream may idle for hours.
    /// </summary>
    public TimeSpan UpstreamIdleTimeout { get; init; } = TimeSpan.Zero;

    /// <summary>How long a request's header block may take to arrive, on either layer (slowloris defence).</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest inner request header block, in bytes.</summary>
    public int MaxRequestHeadersBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// How long a connection to <c>listen_addr</c> may take, from accept, to complete its WebSocket upgrade.
    /// Kestrel alone would keep a connection that never sends a byte for its keep-alive timeout (5 minutes).
    /// </summary>
    public TimeSpan UpgradeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a tunnel session may take, from its WebSocket upgrade, to complete inner TLS and send the
    /// headers of its first request.
    /// </summary>
    public TimeSpan FirstRequestTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Most connections open on <c>listen_addr</c> at once, sessions included; null derives it from RLIMIT_NOFILE.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>Most tunnel sessions (upgraded WebSockets) at once; null derives it from RLIMIT_NOFILE.</summary>
    public int? MaxSessions { get; init; }

    /// <summary>Optional allow-list of WebSocket paths on <c>listen_addr</c>; empty accepts any path.</summary>
    public IReadOnlyList<string> WebSocketPaths { get; init; } = [];

    /// <summary>Loopback listener for /healthz, /readyz and /metrics; null (the default) turns it off.</summary>
    public ListenAddress? HealthAddr { get; init; }

    /// <summary>Where <c>mcp-tunnel run</c> finds <c>tunnel-token</c> when systemd passes no credential.</summary>
    public string DataDir { get; init; } = "/var/lib/mcp-tunnel";

    public CloudflaredConfig Cloudflared { get; init; } = new();

    /// <summary>OpenTelemetry export (<c>appliance.telemetry</c>); the <c>OTEL_*</c> variables win over it.</summary>
    public TelemetryConfig Telemetry { get; init; } = new();

    /// <summary>
    /// The host has no route to the Claude API or the internet by design (an air-gapped lab): <c>doctor</c> skips
    /// its outbound checks instead of failing them, as <c>doctor --offline</c> does.
    /// </summary>
    public bool Offline { get; init; }
}
