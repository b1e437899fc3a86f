namespace McpTunnel.Configuration;

/// <summary>
/// <c>appliance.telemetry</c>: the OpenTelemetry settings in the configuration file, each the same as one of the
/// standard <c>OTEL_*</c> variables (<see cref="Variable"/>). A variable set in the service's environment wins over
/// the file (an operator's fleet-wide drop-in beats a per-host file, as the OpenTelemetry specification expects of
/// environment configuration). Nothing is exported unless an endpoint is set one way or the other.
/// </summary>
public sealed record TelemetryConfig
{
    /// <summary>False turns the SDK off, as <c>OTEL_SDK_DISABLED=true</c> does (no export, no spans, no /metrics exporter).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The collector's base URL (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>); null exports nothing.</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary><c>http/protobuf</c> (the default) or <c>grpc</c> (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c>).</summary>
    public string? OtlpProtocol { get; init; }

    /// <summary>Headers sent to the collector, <c>key=value,key=value</c> (<c>OTEL_EXPORTER_OTLP_HEADERS</c>); may hold a key, never logged.</summary>
    public string? OtlpHeaders { get; init; }

    /// <summary><c>service.name</c> of everything exported (<c>OTEL_SERVICE_NAME</c>); mcp-tunnel when unset.</summary>
    public string? ServiceName { get; init; }

    /// <summary>More resource attributes, <c>key=value,key=value</c> (<c>OTEL_RESOURCE_ATTRIBUTES</c>).</summary>
    public string? ResourceAttributes { get; init; }

    /// <summary>How often metrics are pushed to the collector (<c>OTEL_METRIC_EXPORT_INTERVAL</c>); the SDK's 60 s when unset.</summary>
    public TimeSpan? MetricExportInterval { get; init; }

    /// <summary>
    /// Whether a traced request carries the gateway's W3C <c>traceparent</c> to its upstream (on by default;
    /// <c>OTEL_PROPAGATORS=none</c> turns it off too). Only requests the gateway traces are touched: without an
    /// endpoint the upstream sees the caller's headers unchanged.
    /// </summary>
    public bool PropagateTraceContext { get; init; } = true;

    /// <summary>The value this file gives the standard variable <paramref name="name"/>, or null.</summary>
    public string? Variable(string name) => name switch
    {
        "OTEL_SDK_DISABLED" => Enabled ? null : "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT" => OtlpEndpoint?.ToString(),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => OtlpProtocol,
        "OTEL_EXPORTER_OTLP_HEADERS" => OtlpHeaders,
        "OTEL_SERVICE_NAME" => ServiceName,
        "OTEL_RESOURCE_ATTRIBUTES" => ResourceAttributes,
        "OTEL_METRIC_EXPORT_INTERVAL" => MetricExportInterval is { } interval
            ? ((long)interval.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null,
        "OTEL_PROPAGATORS" => PropagateTraceContext ? null : "none",
        _ => null,
    };
}
