using System.Diagnostics.Metrics;
using McpTunnel.Connector;
using McpTunnel.Gateway.Diagnostics;

namespace McpTunnel.Run;

/// <summary>
/// cloudflared's state as instruments of the product's meter, read when an exporter collects:
/// <c>mcp_tunnel_cloudflared_ready</c>, <c>_restarts_total</c> and <c>_last_exit_code</c> in Prometheus.
/// </summary>
internal static class ConnectorInstruments
{
    /// <summary>A meter holding the connector's instruments; dispose it when the connector goes.</summary>
    public static Meter Create(CloudflaredSupervisor connector)
    {
        var meter = new Meter(GatewayInstruments.MeterName);
        meter.CreateObservableGauge("mcp_tunnel.cloudflared.ready", () => connector.Ready ? 1 : 0, unit: null,
            "1 when cloudflared's /ready answers 200 (the tunnel has registered edge connections).");
        meter.CreateObservableCounter("mcp_tunnel.cloudflared.restarts", () => (long)connector.Restarts, "{restart}",
            "Times cloudflared was started again (restarts and token rotations).");
        meter.CreateObservableGauge("mcp_tunnel.cloudflared.last_exit_code", () => connector.LastExitCode ?? -1, unit: null,
            "Exit code of the last cloudflared run (-1: none yet or killed).");
        return meter;
    }
}
