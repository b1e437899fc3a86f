using McpTunnel.Configuration;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>
/// What some of cloudflared's log events mean to an operator (for <c>/readyz</c> and systemd's STATUS=), and the
/// events logged at a different level than cloudflared gives them. Matched on cloudflared's own message strings
/// (the source files are named at each), which are stable across the supported releases.
/// </summary>
public static class CloudflaredProblems
{
    /// <summary>A sentence saying what is wrong and what to check, or null when the event says nothing of the sort.</summary>
    public static string? Describe(CloudflaredEvent e)
    {
        var error = e.Field("error") ?? "";
        // supervisor/tunnel.go: the edge refuses the registration; cloudflared retries it for ever.
        if (error.Contains("Unauthorized", StringComparison.Ordinal) || e.Message.Contains("Unauthorized", StringComparison.Ordinal))
        {
            return "the Cloudflare edge refused the tunnel token (Unauthorized): the token was rotated or revoked, or the tunnel deleted; " +
                   "store the current token (mcp-tunnel token set, or setup init)";
        }

        // edgediscovery/allregions/discovery.go, and urfave/cli's fatal line after it.
        if (e.Message.StartsWith("edge discovery: error looking up Cloudflare edge IPs", StringComparison.Ordinal)
            || e.Message.StartsWith("Could not lookup srv records", StringComparison.Ordinal)
            || error.StartsWith("Could not lookup srv records", StringComparison.Ordinal))
        {
            return "cloudflared cannot resolve the Cloudflare edge (DNS lookup of _v2-origintunneld._tcp.argotunnel.com failed, and its DNS-over-TLS " +
                   "fallback to 1.1.1.1:853 too): check this host's DNS resolver and that the service may reach it";
        }

        // supervisor/tunnel.go: dial and serve errors towards the edge.
        if (e.Message is "Failed to dial a quic connection" or "Unable to establish connection with Cloudflare edge"
            || (e.Message == "Serve tunnel error" && (error.Contains("dial", StringComparison.Ordinal) || error.Contains("timeout", StringComparison.Ordinal) || error.Contains("refused", StringComparison.Ordinal))))
        {
            return "cloudflared cannot reach the Cloudflare edge on port 7844 (QUIC over UDP, HTTP/2 over TCP): allow egress to port 7844, " +
                   "or set appliance.cloudflared.protocol: http2 where only TCP is open";
        }

        // cmd/cloudflared/tunnel/cmd.go: an explicit --metrics address that is taken.
        if (e.Message.StartsWith("Error opening metrics server listener", StringComparison.Ordinal) && (error + e.Message).Contains("address already in use", StringComparison.Ordinal))
        {
            return "cloudflared's metrics address (appliance.cloudflared.metrics_addr) is in use by another process (a cloudflared of the host " +
                   $"takes 127.0.0.1:20241 by default); leave metrics_addr at {CloudflaredConfig.DefaultMetricsAddr}, a port chosen per start";
        }

        return null;
    }

    /// <summary>The level an event is logged at here.</summary>
    public static LogLevel Level(CloudflaredEvent e)
    {
        // ingress/icmp_linux.go and tunnel/configuration.go: without ping_group_range (hidden by the unit's
        // ProcSubset=pid, and outside the range on most hosts anyway) the ICMP proxy is off. It only serves ICMP
        // to private networks through WARP, which this tunnel never carries, so it is not worth a warning at each
        // start (decision 0006).
        if (e.Level == LogLevel.Warning
            && (e.Message.StartsWith("The user running cloudflared process has a GID (group ID) that is not within ping_group_range", StringComparison.Ordinal)
                || e.Message.StartsWith("ICMP proxy feature is disabled", StringComparison.Ordinal)))
        {
            return LogLevel.Debug;
        }

        return e.Level;
    }
}
