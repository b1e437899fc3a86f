using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// Wires the OpenTelemetry SDK into the gateway's host (decision 0015): one metric provider that reads our meter
/// and the platform's (Kestrel, hosting, HttpClient, DNS, runtime), served as Prometheus text on the health
/// listener's <c>/metrics</c>; and, only when an OTLP endpoint is configured with the standard <c>OTEL_*</c>
/// variables, OTLP export of those metrics and of one span per inner request.
/// </summary>
public static class GatewayTelemetry
{
    /// <summary>The platform meters exported beside ours. Their label values are closed sets too (ASP.NET Core maps unknown methods to _OTHER).</summary>
    public static readonly string[] PlatformMeters =
    [
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Hosting",
        "System.Net.Http",
        "System.Net.NameResolution",
        "System.Runtime",
    ];

    /// <summary>The standard variables the SDK reads (OpenTelemetry's environment variable specification).</summary>
    public static readonly string[] Variables =
    [
        "OTEL_SDK_DISABLED",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_METRIC_EXPORT_TIMEOUT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_PROPAGATORS",
        "OTEL_BSP_EXPORT_TIMEOUT",
    ];

    /// <summary>Whether an OTLP collector is configured: an endpoint is set and the SDK is not disabled.</summary>
    public static bool OtlpConfigured(Func<string, string?> environment) =>
        !string.Equals(environment("OTEL_SDK_DISABLED")?.Trim(), "true", StringComparison.OrdinalIgnoreCase)
        && (!string.IsNullOrWhiteSpace(environment("OTEL_EXPORTER_OTLP_ENDPOINT"))
            || !string.IsNullOrWhiteSpace(environment("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            || !string.IsNullOrWhiteSpace(environment("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")));

    /// <summary>
    /// Registers the providers. Call the returned action with the built host's services before the host starts:
    /// it tells the metric provider which meter factory is this host's.
    /// </summary>
    internal static Action<IServiceProvider> Add(WebApplicationBuilder builder, GatewayMetrics metrics, bool prometheus, Func<string, string?> environment)
    {
        var otlp = OtlpConfigured(environment);
        // The SDK reads OTEL_* from the host's configuration; hand it exactly the variables of the environment
        // given (tests pass their own), never anything else.
        // HTTP/protobuf unless the operator asks for gRPC: it goes through proxies and needs no HTTP/2. (One key
        // per variable: a protocol the operator set used to be added twice, and the duplicate stopped the start.)
        builder.Configuration.AddInMemoryCollection(Variables
            .Select(name => new KeyValuePair<string, string?>(name, name == "OTEL_EXPORTER_OTLP_PROTOCOL" ? environment(name) ?? "http/protobuf" : environment(name)))
            .Where(p => !string.IsNullOrEmpty(p.Value)));
        // OTEL_PROPAGATORS=none is the standard switch for "send no trace context": upstreams then get the caller's
        // headers unchanged. Anything else means W3C trace context, the only propagator the gateway speaks.
        var propagate = otlp && !string.Equals(environment("OTEL_PROPAGATORS")?.Trim(), "none", StringComparison.OrdinalIgnoreCase);
        builder.Services.AddSingleton(new UpstreamTracing(propagate));

        var scope = new HostScope(metrics);
        if (!prometheus && !otlp)
        {
            return scope.Bind;
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                // OTEL_SERVICE_NAME (read by the SDK) names the service when set; else it is mcp-tunnel.
                if (string.IsNullOrWhiteSpace(environment("OTEL_SERVICE_NAME")))
                {
                    r.AddService(serviceName: "mcp-tunnel", serviceVersion: typeof(GatewayTelemetry).Assembly.GetName().Version?.ToString(3));
                }
            });
        telemetry.WithMetrics(m =>
        {
            m.AddMeter(GatewayInstruments.MeterName).AddMeter(PlatformMeters);
            // Another gateway in the same process (tests) has meters of the same names; read only ours.
            m.AddView(instrument => scope.Owns(instrument) ? null : MetricStreamConfiguration.Drop);
            if (prometheus)
            {
                m.AddPrometheusExporter(o =>
                {
                    // The scrape is the health listener's; Prometheus adds job and instance itself.
                    o.ScrapeResponseCacheDurationMilliseconds = 0;
                    o.ScopeInfoEnabled = false;
                    o.TargetInfoEnabled = false;
                });
            }

            if (otlp)
            {
                m.AddOtlpExporter();
            }
        });
        if (otlp)
        {
            // Ours only: the inner request, its upstream request and the upstream dial (RequestTracing). HttpClient's
            // own sources would start an activity per upstream request sampled or not, and its connection set-up
            // spans are roots of their own traces (decision 0016).
            telemetry.WithTracing(t => t.AddSource(GatewayInstruments.MeterName).AddOtlpExporter());
        }

        return scope.Bind;
    }

    /// <summary>Serves <c>/metrics</c> (Prometheus text) on the health listener's branch, when the exporter is there.</summary>
    internal static void MapMetrics(IApplicationBuilder branch)
    {
        if (branch.ApplicationServices.GetService<MeterProvider>() is not { } provider)
        {
            return;
        }

        branch.UseOpenTelemetryPrometheusScrapingEndpoint(provider, predicate: null, path: "/metrics", configureBranchedPipeline: null, optionsName: null);
    }

    /// <summary>Which meters are this gateway's: its own, its host's (Kestrel, hosting) and the process-wide ones.</summary>
    private sealed class HostScope(GatewayMetrics metrics)
    {
        private IMeterFactory? _factory;

        public void Bind(IServiceProvider services) => _factory = services.GetService<IMeterFactory>();

        // Our meter is scoped to its GatewayMetrics; the host's meters to the host's factory; the runtime's and
        // HttpClient's are process-wide (no scope).
        public bool Owns(Instrument instrument) =>
            instrument.Meter.Scope is not { } scope || ReferenceEquals(scope, metrics) || ReferenceEquals(scope, _factory);
    }

    /// <summary>The span source of the data path: one span per inner request.</summary>
    internal static readonly ActivitySource Source = new(GatewayInstruments.MeterName);
}
