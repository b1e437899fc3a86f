namespace McpTunnel.Configuration;

/// <summary>
/// The proxy's configuration, field for field (spec section 2.2), plus the appliance-only settings that
/// live under <c>appliance:</c> so they can never collide with a future proxy field.
/// </summary>
public sealed record GatewayConfig
{
    /// <summary><c>log_level</c> when the file does not set it.</summary>
    public const LogLevelSetting DefaultLogLevel = LogLevelSetting.Info;

    /// <summary><c>shutdown_timeout</c> when the file does not set it (the proxy's default).</summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    public required ListenAddress ListenAddr { get; init; }

    public LogLevelSetting LogLevel { get; init; } = DefaultLogLevel;

    public TimeSpan ShutdownTimeout { get; init; } = DefaultShutdownTimeout;

    /// <summary>Lower-case, without a trailing dot; empty when routes are full host names.</summary>
    public string TunnelDomain { get; init; } = "";

    public required TlsConfig Tls { get; init; }

    /// <summary>Keys are lower-case host names or subdomains.</summary>
    public required IReadOnlyDictionary<string, UpstreamTarget> Routes { get; init; }

    public UpstreamConfig Upstream { get; init; } = new();

    public ApplianceConfig Appliance { get; init; } = new();

    /// <summary>The file this configuration was read from, for messages.</summary>
    public string SourcePath { get; init; } = "";
}
