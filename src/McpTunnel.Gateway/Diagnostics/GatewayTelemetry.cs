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

    /// <summary>
    /// Whether OTLP export of one signal is configured: the SDK is not disabled and either the shared endpoint or the
    /// signal's own (<paramref name="signalEndpointVariable"/>) is set. A signal without an endpoint of either kind is
    /// not exported at all: the SDK would otherwise send it to its default, <c>localhost:4318</c>, which the
    /// operator never asked for (an operator who sets only <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c> wants metrics
    /// and no traces, and then the gateway pays nothing for tracing).
    /// </summary>
    public static bool OtlpConfigured(Func<string, string?> environment, string signalEndpointVariable) =>
        !string.Equals(environment("OTEL_SDK_DISABLED")?.Trim(), "true", StringComparison.OrdinalIgnoreCase)
        && (!string.IsNullOrWhiteSpace(environment("OTEL_EXPORTER_OTLP_ENDPOINT"))
            || !string.IsNullOrWhiteSpace(environment(signalEndpointVariable)));

    /// <summary>
    /// Registers the providers. Call the returned action with the built host's services before the host starts:
    /// it tells the metric provider which meter factory is this host's.
    /// </summary>
    internal static Action<IServiceProvider> Add(WebApplicationBuilder builder, GatewayMetrics metrics, bool prometheus, Func<string, string?> environment)
    {
        var tracesEndpoint = SignalEndpoint(environment, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces");
        var metricsEndpoint = SignalEndpoint(environment, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics");
        var otlpTraces = OtlpConfigured(environment, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        var otlpMetrics = OtlpConfigured(environment, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        // The SDK reads OTEL_* from the host's configuration; hand it exactly the variables of the environment
        // given (tests pass their own), never anything else.
        // HTTP/protobuf unless the operator asks for gRPC: it goes through proxies and needs no HTTP/2. (One key
        // per variable: a protocol the operator set used to be added twice, and the duplicate stopped the start.)
        builder.Configuration.AddInMemoryCollection(Variables
            .Select(name => new KeyValuePair<string, string?>(name, name == "OTEL_EXPORTER_OTLP_PROTOCOL" ? environment(name) ?? "http/protobuf" : environment(name)))
            .Where(p => !string.IsNullOrEmpty(p.Value)));
        // OTEL_PROPAGATORS=none is the standard switch for "send no trace context": upstreams then get the caller's
        // headers unchanged. Anything else means W3C trace context, the only propagator the gateway speaks.
        var propagate = otlpTraces && !string.Equals(environment("OTEL_PROPAGATORS")?.Trim(), "none", StringComparison.OrdinalIgnoreCase);
        builder.Services.AddSingleton(new UpstreamTracing(propagate));

        var scope = new HostScope(metrics);
        if (!prometheus && !otlpTraces && !otlpMetrics)
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
        if (prometheus || otlpMetrics)
        {
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

                if (otlpMetrics)
                {
                    m.AddOtlpExporter(o => UseEndpoint(o, metricsEndpoint));
                }
            });
        }

        if (otlpTraces)
        {
            // Ours only: the inner request, its upstream request and the upstream dial (RequestTracing). HttpClient's
            // own sources would start an activity per upstream request sampled or not, and its connection set-up
            // spans are roots of their own traces (decision 0016).
            telemetry.WithTracing(t => t.AddSource(GatewayInstruments.MeterName)
                .AddOtlpExporter(o => UseEndpoint(o, tracesEndpoint)));
        }

        return scope.Bind;
    }

    /// <summary>
    /// A signal's own endpoint variable, which the specification defines and the SDK's per-signal
    /// <c>AddOtlpExporter</c> does not read (only its <c>UseOtlpExporter</c> does, and that would also turn on OTLP
    /// logging). As the specification says, that URL is used as it is, with no <c>/v1/traces</c> or
    /// <c>/v1/metrics</c> appended; null when unset, and then the shared <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> applies as
    /// the SDK reads it. Read before the host is built, so a bad value stops the start with its fix, not a stack trace.
    /// </summary>
    private static Uri? SignalEndpoint(Func<string, string?> environment, string variable, string signal)
    {
        var value = environment(variable)?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new TelemetrySettingsException($"{variable}=\"{value}\" must be the http:// or https:// URL of an OTLP collector's {signal} endpoint, for example http://127.0.0.1:4318/v1/{signal}; fix it in the service's environment (systemctl edit mcp-tunnel) or unset it");
        }

        return endpoint;
    }

    /// <summary>
    /// Sets a signal's own endpoint, only when there is one: assigning <see cref="OpenTelemetry.Exporter.OtlpExporterOptions.Endpoint"/>
    /// at all (even its current value) tells the SDK the URL is final, and it then stops appending <c>/v1/traces</c>
    /// or <c>/v1/metrics</c> to the shared endpoint.
    /// </summary>
    private static void UseEndpoint(OpenTelemetry.Exporter.OtlpExporterOptions options, Uri? endpoint)
    {
        if (endpoint is not null)
        {
            options.Endpoint = endpoint;
        }
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
