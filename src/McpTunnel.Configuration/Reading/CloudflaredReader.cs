namespace McpTunnel.Configuration.Reading;

/// <summary><c>appliance.cloudflared:</c>, the connector <c>mcp-tunnel run</c> supervises. Every default is <see cref="CloudflaredConfig"/>'s.</summary>
internal static class CloudflaredReader
{
    /// <summary>The longest grace period cloudflared itself accepts.</summary>
    private static readonly TimeSpan MaxGracePeriod = TimeSpan.FromMinutes(3);

    /// <summary>The section over <paramref name="defaults"/>, which are returned when it is absent, empty or not a mapping (an error).</summary>
    public static CloudflaredConfig Read(YamlSection appliance, CloudflaredConfig defaults)
    {
        if (!appliance.TryNested("cloudflared", "must be a mapping (enabled, binary, metrics_addr, grace_period, protocol, edge_ip_version)",
                ["enabled", "binary", "metrics_addr", "grace_period", "protocol", "edge_ip_version"], strict: true, out var c) || c is null)
        {
            return defaults;
        }

        var cloudflared = defaults with
        {
            Enabled = !c.Has("enabled") || c.Bool("enabled"),
            Binary = c.Scalar("binary") is { Length: > 0 } binary ? binary : defaults.Binary,
            GracePeriod = c.Duration("grace_period", defaults.GracePeriod, allowZero: false),
        };
        if (cloudflared.GracePeriod > MaxGracePeriod)
        {
            c.Error("grace_period", "must be at most 3m (cloudflared's own limit)");
        }

        if (c.Scalar("metrics_addr") is { Length: > 0 } metrics)
        {
            if (ListenAddress.TryParse(metrics, out var address, out _) && address!.IsLoopbackOnly)
            {
                cloudflared = cloudflared with { MetricsAddr = address };
            }
            else
            {
                c.Error("metrics_addr", $"\"{metrics}\" must be a loopback address: {CloudflaredConfig.DefaultMetricsAddr} (a free port at each start, the default) or a fixed one such as 127.0.0.1:20241");
            }
        }

        if (c.Scalar("protocol") is { } protocol)
        {
            if (protocol is "auto" or "quic" or "http2")
            {
                cloudflared = cloudflared with { Protocol = protocol };
            }
            else
            {
                c.Error("protocol", $"\"{protocol}\" is not auto, quic or http2");
            }
        }

        if (c.Scalar("edge_ip_version") is { } ipVersion)
        {
            if (ipVersion is "auto" or "4" or "6")
            {
                cloudflared = cloudflared with { EdgeIpVersion = ipVersion };
            }
            else
            {
                c.Error("edge_ip_version", $"\"{ipVersion}\" is not auto, 4 or 6");
            }
        }

        return cloudflared;
    }
}
