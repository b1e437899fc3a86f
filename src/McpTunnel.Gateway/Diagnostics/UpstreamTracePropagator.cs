using System.Diagnostics;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// W3C trace context towards the upstream for requests the gateway traces (decision 0016). HttpClient asks it to
/// inject with its own span of the upstream request, a child of the gateway's span for the inner request: then the
/// caller's <c>traceparent</c> and <c>tracestate</c> are replaced by that span's, so an MCP server that traces joins
/// the same trace under the gateway. A request the gateway does not trace (no collector, or not sampled) keeps the
/// caller's headers exactly as they came, as the Go proxy forwards them.
/// </summary>
internal sealed class UpstreamTracePropagator : DistributedContextPropagator
{
    public static readonly UpstreamTracePropagator Instance = new();

    private static readonly DistributedContextPropagator Default = CreateDefaultPropagator();

    private UpstreamTracePropagator()
    {
    }

    public override IReadOnlyCollection<string> Fields => Default.Fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (activity is null || carrier is not HttpRequestMessage request || setter is null || !TracedByGateway(activity)
            || activity.IdFormat != ActivityIdFormat.W3C)
        {
            return;
        }

        request.Headers.Remove("traceparent");
        request.Headers.Remove("tracestate");
        setter(carrier, "traceparent", activity.Id!);
        if (!string.IsNullOrEmpty(activity.TraceStateString))
        {
            setter(carrier, "tracestate", activity.TraceStateString);
        }
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        Default.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) =>
        Default.ExtractBaggage(carrier, getter);

    /// <summary>Whether the span, or one of its parents in this process, is the gateway's span of an inner request.</summary>
    private static bool TracedByGateway(Activity activity)
    {
        for (var current = activity; current is not null; current = current.Parent)
        {
            if (ReferenceEquals(current.Source, GatewayTelemetry.Source))
            {
                return true;
            }
        }

        return false;
    }
}
