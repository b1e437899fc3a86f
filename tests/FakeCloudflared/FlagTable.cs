namespace FakeCloudflared;

/// <summary>
/// The flags of <c>cloudflared tunnel</c> and <c>cloudflared tunnel run</c>, by name, kind, environment twin and
/// default, as defined at tag 2026.8.2 (cmd/cloudflared/tunnel/cmd.go tunnelFlags, configureCloudflaredFlags,
/// configureProxyFlags, sshFlags; subcommands.go buildRunCommand; cliutil/logger.go; proxydns). The level matters:
/// urfave/cli accepts a flag only on the command that defines it, so <c>--token-file</c> before <c>run</c> or
/// <c>--grace-period</c> after it is an "Incorrect Usage".
/// </summary>
internal static class FlagTable
{
    private static readonly Flag[] Cloudflared =
    [
        new("config", FlagKind.String, "YAML configuration file to read."),
        new("origincert", FlagKind.String, "Origin certificate from cloudflared login.", Env: ["TUNNEL_ORIGIN_CERT"]),
        new("autoupdate-freq", FlagKind.Duration, "How often to look for updates.", Default: "24h0m0s"),
        new("no-autoupdate", FlagKind.Bool, "Never update and restart by itself.", Env: ["NO_AUTOUPDATE"], Default: "false"),
        new("no-prechecks", FlagKind.Bool, "Skip the connectivity checks at start.", Env: ["TUNNEL_NO_PRECHECKS"], Default: "false", Since: Release.NoPrechecks),
        new("metrics", FlagKind.String, "Where the metrics server listens; without it the first free of localhost:20241-20245, then a random port.", Env: ["TUNNEL_METRICS"], Default: "localhost:0"),
        new("pidfile", FlagKind.String, "File to write the PID to once connected.", Env: ["TUNNEL_PIDFILE"]),
    ];

    private static readonly Flag[] Ssh =
    [
        new("local-ssh-port", FlagKind.String, "Local SSH port.", Env: ["LOCAL_SSH_PORT"], Default: "2222", Hidden: true),
        new("ssh-idle-timeout", FlagKind.Duration, "SSH idle timeout.", Env: ["SSH_IDLE_TIMEOUT"], Hidden: true),
        new("ssh-max-timeout", FlagKind.Duration, "SSH maximum session time.", Env: ["SSH_MAX_TIMEOUT"], Hidden: true),
        new("bucket-name", FlagKind.String, "SSH log bucket.", Env: ["BUCKET_ID"], Hidden: true),
        new("region-name", FlagKind.String, "SSH log bucket region.", Env: ["REGION_ID"], Hidden: true),
        new("secret-id", FlagKind.String, "SSH log uploader secret.", Env: ["SECRET_ID"], Hidden: true),
        new("access-key-id", FlagKind.String, "SSH log uploader key.", Env: ["ACCESS_CLIENT_ID"], Hidden: true),
        new("session-token", FlagKind.String, "SSH log uploader session.", Env: ["SESSION_TOKEN_ID"], Hidden: true),
        new("s3-url-host", FlagKind.String, "SSH log uploader S3 host.", Env: ["S3_URL"], Hidden: true),
        new("host-key-path", FlagKind.String, "SSH host key.", Env: ["HOST_KEY_PATH"], Hidden: true),
        new("ssh-server", FlagKind.Bool, "Run an SSH server.", Env: ["TUNNEL_SSH_SERVER"], Default: "false", Hidden: true),
        new("bastion", FlagKind.Bool, "Run as a jump host.", Env: ["TUNNEL_BASTION"], Default: "false"),
        new("proxy-address", FlagKind.String, "Listen address of the proxy.", Env: ["TUNNEL_PROXY_ADDRESS"], Default: "127.0.0.1"),
        new("proxy-port", FlagKind.Int, "Listen port of the proxy.", Env: ["TUNNEL_PROXY_PORT"], Default: "0"),
    ];

    private static readonly Flag[] Proxy =
    [
        new("url", FlagKind.String, "The origin to proxy to.", Env: ["TUNNEL_URL"], Default: "http://localhost:8080"),
        new("hello-world", FlagKind.Bool, "Serve the built-in test page.", Env: ["TUNNEL_HELLO_WORLD"], Default: "false"),
        new("socks5", FlagKind.Bool, Legacy("Act as a SOCKS5 server."), Env: ["TUNNEL_SOCKS"], Default: "false"),
        new("proxy-connect-timeout", FlagKind.Duration, Legacy("Origin connect timeout."), Default: "30s"),
        new("proxy-tls-timeout", FlagKind.Duration, Legacy("Origin TLS handshake timeout."), Default: "10s"),
        new("proxy-tcp-keepalive", FlagKind.Duration, Legacy("Origin TCP keepalive."), Default: "30s"),
        new("proxy-no-happy-eyeballs", FlagKind.Bool, Legacy("No IPv4/IPv6 fallback to the origin."), Default: "false"),
        new("proxy-keepalive-connections", FlagKind.Int, Legacy("Idle origin connections kept."), Default: "100"),
        new("proxy-keepalive-timeout", FlagKind.Duration, Legacy("Idle origin connection timeout."), Default: "1m30s"),
        new("proxy-connection-timeout", FlagKind.Duration, "Deprecated, no effect.", Default: "1m30s"),
        new("proxy-expect-continue-timeout", FlagKind.Duration, "Deprecated, no effect.", Default: "1m30s"),
        new("http-host-header", FlagKind.String, Legacy("Host header sent to the origin."), Env: ["TUNNEL_HTTP_HOST_HEADER"]),
        new("origin-server-name", FlagKind.String, Legacy("Expected name on the origin's certificate."), Env: ["TUNNEL_ORIGIN_SERVER_NAME"]),
        new("unix-socket", FlagKind.String, "Origin on a Unix socket.", Env: ["TUNNEL_UNIX_SOCKET"]),
        new("origin-ca-pool", FlagKind.String, Legacy("CA file for the origin's certificate."), Env: ["TUNNEL_ORIGIN_CA_POOL"]),
        new("no-tls-verify", FlagKind.Bool, Legacy("Accept any origin certificate."), Env: ["NO_TLS_VERIFY"], Default: "false"),
        new("no-chunked-encoding", FlagKind.Bool, Legacy("No chunked encoding to the origin."), Env: ["TUNNEL_NO_CHUNKED_ENCODING"], Default: "false"),
        new("http2-origin", FlagKind.Bool, "HTTP/2 to https origins.", Env: ["TUNNEL_ORIGIN_ENABLE_HTTP2"], Default: "false"),
        new("management-hostname", FlagKind.String, "Management service host.", Env: ["TUNNEL_MANAGEMENT_HOSTNAME"], Default: "management.argotunnel.com", Hidden: true),
        new("service-op-ip", FlagKind.String, "Fallback management address.", Env: ["TUNNEL_SERVICE_OP_IP"], Default: "198.41.200.113:80", Hidden: true),
        .. Ssh,
    ];

    private static readonly Flag[] Logging =
    [
        new("loglevel", FlagKind.String, "Log level: debug, info, warn, error, fatal (debug logs request headers).", Env: ["TUNNEL_LOGLEVEL"], Default: "info"),
        new("transport-loglevel", FlagKind.String, "Log level of the transport layer.", Aliases: ["proto-loglevel"], Env: ["TUNNEL_PROTO_LOGLEVEL", "TUNNEL_TRANSPORT_LOGLEVEL"], Default: "info"),
        new("logfile", FlagKind.String, "File to append the log to.", Env: ["TUNNEL_LOGFILE"]),
        new("log-directory", FlagKind.String, "Directory for a rotated log.", Env: ["TUNNEL_LOGDIRECTORY"]),
        new("trace-output", FlagKind.String, "Go runtime trace file, written at exit.", Env: ["TUNNEL_TRACE_OUTPUT"]),
        new("output", FlagKind.String, "Log format: default or json.", Env: ["TUNNEL_MANAGEMENT_OUTPUT", "TUNNEL_LOG_OUTPUT"], Default: "default", Since: Release.JsonOutput),
    ];

    private static readonly Flag[] RemovedProxyDns =
    [
        new("proxy-dns", FlagKind.Bool, "Removed.", Hidden: true),
        new("proxy-dns-port", FlagKind.Int, "Removed.", Hidden: true),
        new("proxy-dns-address", FlagKind.String, "Removed.", Hidden: true),
        new("proxy-dns-upstream", FlagKind.StringSlice, "Removed.", Hidden: true),
        new("proxy-dns-max-upstream-conns", FlagKind.Int, "Removed.", Hidden: true),
        new("proxy-dns-bootstrap", FlagKind.StringSlice, "Removed.", Hidden: true),
    ];

    private static readonly Flag CredentialsFile = new("credentials-file", FlagKind.String, "Tunnel credentials file.", Aliases: ["cred-file"], Env: ["TUNNEL_CRED_FILE"]);
    private static readonly Flag Protocol = new("protocol", FlagKind.String, "Transport to the edge: auto, quic or http2.", Aliases: ["p"], Env: ["TUNNEL_TRANSPORT_PROTOCOL"], Default: "auto", Hidden: true);
    private static readonly Flag PostQuantum = new("post-quantum", FlagKind.Bool, "Post-quantum key exchange only.", Aliases: ["pq"], Env: ["TUNNEL_POST_QUANTUM"], Default: "false");

    /// <summary>The origin flags' help says that they only apply to --url without ingress rules (legacyTunnelFlag).</summary>
    private static string Legacy(string usage) =>
        usage + " Only applies to an origin given with --url and when the configuration has no ingress rules. The preferred way is an ingress rule"
        + " in the configuration file with this setting under its originRequest section, as the tunnel documentation on ingress rules and"
        + " origin configuration describes in detail.";

    public static readonly Flag Help = new("help", FlagKind.Bool, "show help", Aliases: ["h"], Default: "false");

    /// <summary>Flags of <c>cloudflared tunnel</c> (before <c>run</c>).</summary>
    public static readonly Flag[] Tunnel =
    [
        .. Cloudflared,
        .. Proxy,
        .. Logging,
        .. RemovedProxyDns,
        CredentialsFile,
        new("is-autoupdated", FlagKind.Bool, "Internal.", Default: "false", Hidden: true),
        new("edge", FlagKind.StringSlice, "Static edge addresses (testing).", Env: ["TUNNEL_EDGE"], Hidden: true),
        new("region", FlagKind.String, "Edge region (e.g. us); empty for global.", Env: ["TUNNEL_REGION"]),
        new("edge-ip-version", FlagKind.String, "Address family to the edge: 4, 6 or auto.", Env: ["TUNNEL_EDGE_IP_VERSION"], Default: "auto"),
        new("edge-bind-address", FlagKind.String, "Source address towards the edge.", Env: ["TUNNEL_EDGE_BIND_ADDRESS"]),
        new("cacert", FlagKind.String, "Edge CA (testing).", Env: ["TUNNEL_CACERT"], Hidden: true),
        new("hostname", FlagKind.String, "Legacy hostname.", Env: ["TUNNEL_HOSTNAME"]),
        new("id", FlagKind.String, "Internal.", Env: ["TUNNEL_ID"], Hidden: true),
        new("lb-pool", FlagKind.String, "Load balancer pool.", Env: ["TUNNEL_LB_POOL"]),
        new("api-key", FlagKind.String, "Legacy API key.", Env: ["TUNNEL_API_KEY"], Hidden: true),
        new("api-email", FlagKind.String, "Legacy API email.", Env: ["TUNNEL_API_EMAIL"], Hidden: true),
        new("api-ca-key", FlagKind.String, "Legacy API CA key.", Env: ["TUNNEL_API_CA_KEY"], Hidden: true),
        new("api-url", FlagKind.String, "API base URL.", Env: ["TUNNEL_API_URL"], Default: "https://api.cloudflare.com/client/v4", Hidden: true),
        new("metrics-update-freq", FlagKind.Duration, "Metrics refresh interval.", Env: ["TUNNEL_METRICS_UPDATE_FREQ"], Default: "5s"),
        new("tag", FlagKind.StringSlice, "KEY=VALUE tags sent to the origin.", Env: ["TUNNEL_TAG"], Hidden: true),
        new("heartbeat-interval", FlagKind.Duration, "Heartbeat interval.", Default: "5s", Hidden: true),
        new("heartbeat-count", FlagKind.Int, "Missed heartbeats before reconnecting.", Default: "5", Hidden: true),
        new("max-edge-addr-retries", FlagKind.Int, "Edge address rotations before the fallback protocol.", Default: "8", Hidden: true),
        new("retries", FlagKind.Int, "Caps the reconnect backoff exponent.", Env: ["TUNNEL_RETRIES"], Default: "5"),
        new("ha-connections", FlagKind.Int, "Edge connections to keep.", Default: "4", Hidden: true),
        new("rpc-timeout", FlagKind.Duration, "RPC timeout.", Default: "5s", Hidden: true),
        new("write-stream-timeout", FlagKind.Duration, "Stream write timeout.", Env: ["TUNNEL_STREAM_WRITE_TIMEOUT"], Default: "0s", Hidden: true),
        new("quic-disable-pmtu-discovery", FlagKind.Bool, "No QUIC path MTU discovery.", Env: ["TUNNEL_DISABLE_QUIC_PMTU"], Default: "false", Hidden: true),
        new("quic-connection-level-flow-control-limit", FlagKind.Uint, "QUIC connection window.", Env: ["TUNNEL_QUIC_CONN_LEVEL_FLOW_CONTROL_LIMIT"], Default: "31457280", Hidden: true),
        new("quic-stream-level-flow-control-limit", FlagKind.Uint, "QUIC stream window.", Env: ["TUNNEL_QUIC_STREAM_LEVEL_FLOW_CONTROL_LIMIT"], Default: "6291456", Hidden: true),
        new("label", FlagKind.String, "Connector label shown in the dashboard."),
        new("grace-period", FlagKind.Duration, "Drain time after the first SIGTERM/SIGINT (at most 3m); a second signal ends it.", Env: ["TUNNEL_GRACE_PERIOD"], Default: "30s"),
        new("compression-quality", FlagKind.Int, "Cross-stream compression (0 off).", Env: ["TUNNEL_COMPRESSION_LEVEL"], Default: "0"),
        new("use-reconnect-token", FlagKind.Bool, "Reconnect tokens.", Env: ["TUNNEL_USE_RECONNECT_TOKEN"], Default: "true", Hidden: true),
        new("dial-edge-timeout", FlagKind.Duration, "Edge dial timeout.", Env: ["DIAL_EDGE_TIMEOUT"], Default: "15s", Hidden: true),
        new("stdin-control", FlagKind.Bool, "Commands on stdin.", Env: ["STDIN_CONTROL"], Default: "false", Hidden: true),
        new("name", FlagKind.String, "Create and run a named tunnel.", Aliases: ["n"], Env: ["TUNNEL_NAME"]),
        new("ui", FlagKind.Bool, "Removed.", Default: "false", Hidden: true),
        new("quick-service", FlagKind.String, "Quick tunnel service.", Default: "https://api.trycloudflare.com", Hidden: true),
        new("max-fetch-size", FlagKind.Int, "List page size.", Env: ["TUNNEL_MAX_FETCH_SIZE"], Hidden: true),
        PostQuantum,
        new("management-diagnostics", FlagKind.Bool, "Diagnostics through the management service.", Env: ["TUNNEL_MANAGEMENT_DIAGNOSTICS"], Default: "true"),
        Protocol,
        new("overwrite-dns", FlagKind.Bool, "Overwrite DNS records.", Aliases: ["f"], Env: ["TUNNEL_FORCE_PROVISIONING_DNS"], Default: "false"),
    ];

    /// <summary>Flags of <c>cloudflared tunnel run</c> (after <c>run</c>).</summary>
    public static readonly Flag[] Run =
    [
        CredentialsFile,
        new("credentials-contents", FlagKind.String, "Tunnel credentials as JSON.", Env: ["TUNNEL_CRED_CONTENTS"]),
        PostQuantum,
        Protocol,
        new("features", FlagKind.StringSlice, "Opt-in features.", Aliases: ["F"], Env: ["TUNNEL_FEATURES"]),
        new("token", FlagKind.String, "The connector token; wins over --token-file and credentials.", Env: ["TUNNEL_TOKEN"]),
        new("token-file", FlagKind.String, "File holding the connector token.", Env: ["TUNNEL_TOKEN_FILE"], Since: Release.TokenFile),
        new("icmpv4-src", FlagKind.String, "ICMPv4 source.", Env: ["TUNNEL_ICMPV4_SRC"]),
        new("icmpv6-src", FlagKind.String, "ICMPv6 source.", Env: ["TUNNEL_ICMPV6_SRC"]),
        new("max-active-flows", FlagKind.Uint, "Concurrent flow limit.", Env: ["TUNNEL_MAX_ACTIVE_FLOWS"]),
        new("dns-resolver-addrs", FlagKind.StringSlice, "Resolvers for the virtual DNS service.", Env: ["TUNNEL_DNS_RESOLVER_ADDRS"]),
        .. Proxy,
    ];

    public static IReadOnlyList<Flag> For(IEnumerable<Flag> flags, Release release) =>
        [.. flags.Where(f => f.Since is null || release.AtLeast(f.Since)), Help];
}
