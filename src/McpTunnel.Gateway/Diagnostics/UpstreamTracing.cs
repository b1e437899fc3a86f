namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// What the gateway's telemetry set-up decided for upstream requests: <paramref name="Propagate"/> when requests
/// are traced (an OTLP endpoint is configured) and trace context propagation is on
/// (<c>appliance.telemetry.propagate_trace_context</c>, <c>OTEL_PROPAGATORS</c> other than <c>none</c>).
/// </summary>
public sealed record UpstreamTracing(bool Propagate);
