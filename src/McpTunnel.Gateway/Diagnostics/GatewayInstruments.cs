using System.Diagnostics.Metrics;
using McpTunnel.Gateway.Tls;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// The instruments of the <c>McpTunnel</c> meter, named and unit-ed the OpenTelemetry way (dots between words,
/// UCUM units, <c>{thing}</c> annotations for counts). The Prometheus exporter turns <c>mcp_tunnel.requests</c>
/// with unit <c>{request}</c> into <c>mcp_tunnel_requests_total</c> and <c>mcp_tunnel.request.duration</c> in
/// <c>s</c> into <c>mcp_tunnel_request_duration_seconds</c>, so the names operators already use stay
/// (docs/operations.md lists them; decision 0015).
/// </summary>
public static class GatewayInstruments
{
    /// <summary>The one meter (and activity source) name of the product.</summary>
    public const string MeterName = "McpTunnel";

    internal static (Histogram<double> RequestDuration, Histogram<double> McpCallDuration) Create(Meter meter, GatewayMetrics m)
    {
        meter.CreateObservableCounter("mcp_tunnel.requests", () => m.RequestsByRoute.Select(static r => new Measurement<long>(r.Count,
            new("route", r.Route), new("method", r.Method), new("status", r.Status))),
            "{request}", "Inner requests that reached a route, by route, method (_OTHER for non-standard ones) and status class.");
        meter.CreateObservableCounter("mcp_tunnel.requests.received", () => m.Requests, "{request}",
            "Inner requests received, including those refused before routing (invalid Host, CONNECT, no route).");
        meter.CreateObservableCounter("mcp_tunnel.no_route", () => m.NoRoute, "{request}", "Requests answered 502 No route configured for host.");
        meter.CreateObservableCounter("mcp_tunnel.upstream_errors", () => m.UpstreamErrors, "{request}", "Requests that failed towards the upstream (502/504).");
        meter.CreateObservableCounter("mcp_tunnel.client_errors", () => m.ClientErrors, "{request}",
            "Requests refused or failed because of the client (invalid Host, CONNECT, malformed body, client gone mid-response).");
        meter.CreateObservableCounter("mcp_tunnel.ip_rejections", () => m.IpRejections, "{address}", "Upstream addresses refused by upstream.allowed_ips.");
        meter.CreateObservableCounter("mcp_tunnel.tls_handshake_failures", () => m.TlsFailureCells.Select(static p => new Measurement<long>(Interlocked.Read(ref p.Value[0]),
            new KeyValuePair<string, object?>("reason", p.Key))), "{handshake}", "Failed inner TLS handshakes by reason.");
        meter.CreateObservableUpDownCounter("mcp_tunnel.websockets.active", () => m.ActiveWebSockets, "{websocket}",
            "Open WebSockets from cloudflared (one inner connection each): the tunnel sessions.");
        meter.CreateObservableCounter("mcp_tunnel.websockets", () => m.WebSocketsTotal, "{websocket}", "WebSockets accepted since start.");
        meter.CreateObservableUpDownCounter("mcp_tunnel.connections.active", () => m.OpenConnections, "{connection}",
            "Connections open on listen_addr, tunnel sessions included.");
        meter.CreateObservableCounter("mcp_tunnel.connections.shed", () => Enum.GetValues<ShedReason>().Select(r => new Measurement<long>(m.ShedCount((int)r),
            new KeyValuePair<string, object?>("reason", GatewayMetrics.Label(r)))), "{connection}", "Connections the gateway closed to stay within its limits, by reason.");
        meter.CreateObservableCounter("mcp_tunnel.connections.refused", () => Enum.GetValues<RefusalReason>().Select(r => new Measurement<long>(m.RefusedCount((int)r),
            new KeyValuePair<string, object?>("reason", GatewayMetrics.Label(r)))), "{connection}", "New connections or WebSockets refused at a limit, by reason.");
        meter.CreateObservableCounter("mcp_tunnel.memory_reclaims", () => m.MemoryReclaims, "{collection}",
            "Collections the gateway asked for after a flood of connections ended.");
        var duration = meter.CreateHistogram("mcp_tunnel.request.duration", "s",
            "Inner request duration (to the end of the response) by route.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GatewayMetrics.DurationBuckets });
        var mcp = meter.CreateHistogram("mcp_tunnel.mcp.call.duration", "s",
            "MCP messages by route, JSON-RPC method (mcp.method.name), tool (gen_ai.tool.name, for tools/call) and status class: count and duration.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GatewayMetrics.DurationBuckets });
        return (duration, mcp);
    }

    /// <summary>The served certificate's expiry and reloads, read at collection.</summary>
    internal static void AddCertificate(Meter meter, ServerCertificateStore certificates)
    {
        meter.CreateObservableGauge("mcp_tunnel.certificate.expiry_timestamp", () => certificates.Current.NotAfter.ToUnixTimeSeconds(), "s",
            "When the served certificate expires (Unix time).");
        meter.CreateObservableCounter("mcp_tunnel.certificate.reloads", () => (long)certificates.ReloadCount, "{reload}", "Certificate pairs reloaded since start.");
    }
}
