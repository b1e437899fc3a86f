using System.Globalization;
using System.Text;
using McpTunnel.Connector;
using McpTunnel.Gateway;
using McpTunnel.Gateway.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Operations.Health;

/// <summary>
/// The optional loopback listener at <c>appliance.health_addr</c>: <c>/healthz</c> (the process is alive),
/// <c>/readyz</c> (configuration loaded, certificate valid, cloudflared connected; the body names what is not, and
/// warns when no route is configured)
/// and <c>/metrics</c> (Prometheus text). Every metric is listed in docs/operations.md.
/// </summary>
public sealed class HealthEndpoint(CloudflaredSupervisor? connector, TimeProvider time) : IHealthHandler
{
    public async Task HandleAsync(HttpContext context, IGatewayStatus gateway)
    {
        var path = context.Request.Path.Value;
        context.Response.ContentType = "text/plain; charset=utf-8";
        switch (path)
        {
            case "/healthz":
                await context.Response.WriteAsync("ok\n").ConfigureAwait(false);
                return;
            case "/readyz":
                var (ready, report) = Readiness(gateway);
                context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync(report).ConfigureAwait(false);
                return;
            case "/metrics":
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await context.Response.WriteAsync(Metrics(gateway)).ConfigureAwait(false);
                return;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await context.Response.WriteAsync("not found: use /healthz, /readyz or /metrics\n").ConfigureAwait(false);
                return;
        }
    }

    public (bool Ready, string Report) Readiness(IGatewayStatus server)
    {
        var lines = new StringBuilder();
        var ready = true;
        lines.Append("config: ok\n");
        var routes = server.Routes.Routes.Count();
        // Not a readiness failure (the gateway answers, the tunnel is up), but nothing can be reached through it.
        lines.Append(routes == 0
            ? "routes: NONE configured; every request gets 502 No route configured for host; add routes to the config and reload\n"
            : string.Create(CultureInfo.InvariantCulture, $"routes: {routes} configured\n"));
        var notAfter = server.CertificateNotAfter;
        if (notAfter <= time.GetUtcNow())
        {
            ready = false;
            lines.Append(CultureInfo.InvariantCulture, $"certificate: EXPIRED at {notAfter:yyyy-MM-ddTHH:mm:ssZ}; run mcp-tunnel setup renew-cert\n");
        }
        else
        {
            lines.Append(CultureInfo.InvariantCulture, $"certificate: ok, valid until {notAfter:yyyy-MM-ddTHH:mm:ssZ}\n");
        }

        if (connector is null)
        {
            lines.Append("cloudflared: not supervised here (--no-connector)\n");
        }
        else if (connector.Ready)
        {
            lines.Append("cloudflared: ok, connected\n");
        }
        else
        {
            ready = false;
            lines.Append(CultureInfo.InvariantCulture, $"cloudflared: NOT READY, {connector.Status}\n");
        }

        return (ready, lines.ToString());
    }

    public string Metrics(IGatewayStatus? server)
    {
        var text = new StringBuilder();
        void Metric(string name, string type, string help, double value, string labels = "")
        {
            text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n{name}{labels} {value}\n");
        }

        if (server is not null)
        {
            var m = server.Metrics;
            text.Append("# HELP mcp_tunnel_requests_total Inner requests by route, method (_OTHER for non-standard ones) and status class.\n# TYPE mcp_tunnel_requests_total counter\n");
            foreach (var (route, method, status, count) in m.RequestsByRoute.OrderBy(r => r.Route, StringComparer.Ordinal))
            {
                text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_requests_total{{route=\"{Escape(route)}\",method=\"{Escape(method)}\",status=\"{status}\"}} {count}\n");
            }

            text.Append("# HELP mcp_tunnel_request_duration_seconds Inner request duration (to the end of the response) by route.\n# TYPE mcp_tunnel_request_duration_seconds histogram\n");
            foreach (var (route, histogram) in m.Durations.OrderBy(d => d.Route, StringComparer.Ordinal))
            {
                var cumulative = histogram.Cumulative();
                for (var i = 0; i < GatewayMetrics.DurationBuckets.Length; i++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_request_duration_seconds_bucket{{route=\"{Escape(route)}\",le=\"{GatewayMetrics.DurationBuckets[i]}\"}} {cumulative[i]}\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_request_duration_seconds_bucket{{route=\"{Escape(route)}\",le=\"+Inf\"}} {cumulative[^1]}\n");
                text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_request_duration_seconds_sum{{route=\"{Escape(route)}\"}} {histogram.Sum}\n");
                text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_request_duration_seconds_count{{route=\"{Escape(route)}\"}} {cumulative[^1]}\n");
            }

            Metric("mcp_tunnel_no_route_total", "counter", "Requests answered 502 No route configured for host.", m.NoRoute);
            Metric("mcp_tunnel_upstream_errors_total", "counter", "Requests that failed towards the upstream (502/504).", m.UpstreamErrors);
            Metric("mcp_tunnel_client_errors_total", "counter", "Requests refused or failed because of the client (invalid Host, CONNECT, malformed body, client gone mid-response).", m.ClientErrors);
            Metric("mcp_tunnel_ip_rejections_total", "counter", "Upstream addresses refused by upstream.allowed_ips.", m.IpRejections);
            text.Append("# HELP mcp_tunnel_tls_handshake_failures_total Failed inner TLS handshakes by reason.\n# TYPE mcp_tunnel_tls_handshake_failures_total counter\n");
            foreach (var (reason, count) in m.TlsHandshakeFailuresByReason.OrderBy(r => r.Reason, StringComparer.Ordinal))
            {
                text.Append(CultureInfo.InvariantCulture, $"mcp_tunnel_tls_handshake_failures_total{{reason=\"{reason}\"}} {count}\n");
            }

            Metric("mcp_tunnel_websockets_active", "gauge", "Open WebSockets from cloudflared (one inner connection each).", m.ActiveWebSockets);
            Metric("mcp_tunnel_websockets_total", "counter", "WebSockets accepted since start.", m.WebSocketsTotal);
            Metric("mcp_tunnel_certificate_expiry_timestamp_seconds", "gauge", "When the served certificate expires (Unix time).", server.CertificateNotAfter.ToUnixTimeSeconds());
            Metric("mcp_tunnel_certificate_reloads_total", "counter", "Certificate pairs reloaded since start.", server.CertificateReloads);
        }

        if (connector is not null)
        {
            Metric("mcp_tunnel_cloudflared_ready", "gauge", "1 when cloudflared's /ready answers 200.", connector.Ready ? 1 : 0);
            Metric("mcp_tunnel_cloudflared_restarts_total", "counter", "Times cloudflared was started again.", connector.Restarts);
            Metric("mcp_tunnel_cloudflared_last_exit_code", "gauge", "Exit code of the last cloudflared run (-1: none yet or killed).", connector.LastExitCode ?? -1);
        }

        return text.ToString();
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
