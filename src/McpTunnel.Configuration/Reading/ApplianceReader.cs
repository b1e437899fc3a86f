using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary>
/// <c>appliance:</c>, our own section (the proxy has none): deadlines, limits, the health listener, the data directory
/// and, through <see cref="CloudflaredReader"/> and <see cref="TelemetryReader"/>, the connector and telemetry. Unknown keys are errors here, because the section is
/// ours. Every default is <see cref="ApplianceConfig"/>'s.
/// </summary>
internal static class ApplianceReader
{
    private static readonly string[] Fields =
    [
        "upstream_connect_timeout", "tls_handshake_timeout", "cert_poll_interval", "websocket_keepalive",
        "upstream_idle_timeout", "request_headers_timeout", "max_request_headers_bytes", "websocket_paths", "health_addr", "data_dir", "cloudflared",
        "upgrade_timeout", "first_request_timeout", "max_connections", "max_sessions",
        "offline", "telemetry",
    ];

    /// <summary>The section (its defaults when absent or empty); null when it is not a mapping.</summary>
    public static ApplianceConfig? Read(YamlSection top)
    {
        if (!top.TryNested("appliance", "must be a mapping of appliance settings", Fields, strict: true, out var a))
        {
            return null;
        }

        var result = new ApplianceConfig();
        if (a is null)
        {
            return result;
        }

        result = result with
        {
            UpstreamConnectTimeout = a.Duration("upstream_connect_timeout", result.UpstreamConnectTimeout, allowZero: false),
            TlsHandshakeTimeout = a.Duration("tls_handshake_timeout", result.TlsHandshakeTimeout, allowZero: false),
            CertPollInterval = a.Duration("cert_poll_interval", result.CertPollInterval, allowZero: false),
            WebSocketKeepAlive = a.Duration("websocket_keepalive", result.WebSocketKeepAlive, allowZero: true),
            UpstreamIdleTimeout = a.Duration("upstream_idle_timeout", result.UpstreamIdleTimeout, allowZero: true),
            RequestHeadersTimeout = a.Duration("request_headers_timeout", result.RequestHeadersTimeout, allowZero: false),
            UpgradeTimeout = a.Duration("upgrade_timeout", result.UpgradeTimeout, allowZero: false),
            FirstRequestTimeout = a.Duration("first_request_timeout", result.FirstRequestTimeout, allowZero: false),
            MaxConnections = a.Count("max_connections", 2),
            MaxSessions = a.Count("max_sessions", 1),
            Offline = a.Bool("offline"),
        };
        if (result is { MaxConnections: { } connections, MaxSessions: { } sessions } && sessions >= connections)
        {
            a.Error("max_sessions",
                $"{sessions} must be less than appliance.max_connections ({connections}): connections that have not finished their WebSocket upgrade yet need room beside the sessions");
        }

        if (a.Scalar("max_request_headers_bytes") is { } headerText)
        {
            if (int.TryParse(headerText, out var bytes) && bytes is >= 1024 and <= 1024 * 1024)
            {
                result = result with { MaxRequestHeadersBytes = bytes };
            }
            else
            {
                a.Error("max_request_headers_bytes", $"\"{headerText}\" must be a number of bytes from 1024 to 1048576");
            }
        }

        if (a.Value("websocket_paths") is { } pathsNode)
        {
            if (pathsNode is YamlSequenceNode paths && paths.Children.All(p => p is YamlScalarNode { Value: ['/', ..] }))
            {
                result = result with { WebSocketPaths = [.. paths.Children.Select(p => ((YamlScalarNode)p).Value!)] };
            }
            else
            {
                a.Error("websocket_paths", "must be a list of absolute paths, for example [\"/\"]");
            }
        }

        if (ReadHealthAddress(a) is { } health)
        {
            result = result with { HealthAddr = health };
        }

        if (a.Scalar("data_dir") is { Length: > 0 } dataDir)
        {
            result = result with { DataDir = a.Context.ResolvePath(dataDir) };
        }

        return result with { Cloudflared = CloudflaredReader.Read(a, result.Cloudflared), Telemetry = TelemetryReader.Read(a) };
    }

    private static ListenAddress? ReadHealthAddress(YamlSection a)
    {
        if (a.Scalar("health_addr") is not { Length: > 0 } health)
        {
            return null;
        }

        if (!ListenAddress.TryParse(health.Trim(), out var address, out var reason))
        {
            a.Error("health_addr", $"invalid address \"{health}\": {reason}");
            return null;
        }

        if (address!.Port == 0)
        {
            a.Error("health_addr", "needs a fixed port, for example 127.0.0.1:9090");
            return null;
        }

        if (!address.IsLoopbackOnly)
        {
            a.Warn("health_addr", "is not a loopback address: /metrics and /readyz will be reachable from the network");
        }

        return address;
    }
}
