using System.Globalization;
using System.Text;
using McpTunnel.Connector;
using McpTunnel.Gateway;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Operations.Health;

/// <summary>
/// The optional loopback listener at <c>appliance.health_addr</c>: <c>/healthz</c> (the process is alive),
/// <c>/readyz</c> (configuration loaded, certificate valid, cloudflared connected; the body names what is not, and
/// warns when no route is configured)
/// and <c>/metrics</c> (Prometheus text, served by the OpenTelemetry exporter in front of this handler:
/// GatewayTelemetry). Every metric is listed in docs/operations.md.
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
}
