using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary><c>appliance.telemetry:</c>, the OpenTelemetry settings. Every default is <see cref="TelemetryConfig"/>'s.</summary>
internal static class TelemetryReader
{
    private static readonly string[] Fields =
    [
        "enabled", "otlp_endpoint", "otlp_protocol", "otlp_headers", "service_name", "resource_attributes",
        "metric_export_interval", "propagate_trace_context",
    ];

    /// <summary>The section, or the defaults when it is absent, empty or not a mapping (an error).</summary>
    public static TelemetryConfig Read(YamlSection appliance)
    {
        var defaults = new TelemetryConfig();
        if (!appliance.TryNested("telemetry", $"must be a mapping ({string.Join(", ", Fields)})", Fields, strict: true, out var t) || t is null)
        {
            return defaults;
        }

        var telemetry = defaults with
        {
            Enabled = !t.Has("enabled") || t.Bool("enabled"),
            PropagateTraceContext = !t.Has("propagate_trace_context") || t.Bool("propagate_trace_context"),
            OtlpHeaders = NonEmpty(t.Scalar("otlp_headers")),
            ServiceName = NonEmpty(t.Scalar("service_name")),
        };

        if (NonEmpty(t.Scalar("otlp_endpoint")) is { } endpoint)
        {
            if (Uri.TryCreate(endpoint.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Query.Length == 0)
            {
                telemetry = telemetry with { OtlpEndpoint = uri };
            }
            else
            {
                t.Error("otlp_endpoint", $"\"{endpoint}\" must be an http:// or https:// URL of an OTLP collector, for example http://127.0.0.1:4318");
            }
        }

        if (NonEmpty(t.Scalar("otlp_protocol")) is { } protocol)
        {
            if (protocol is "http/protobuf" or "grpc")
            {
                telemetry = telemetry with { OtlpProtocol = protocol };
            }
            else
            {
                t.Error("otlp_protocol", $"\"{protocol}\" is not http/protobuf or grpc");
            }
        }

        if (t.Value("resource_attributes") is { } attributes)
        {
            telemetry = telemetry with { ResourceAttributes = ReadAttributes(t, attributes) };
        }

        if (t.Has("metric_export_interval"))
        {
            var interval = t.Duration("metric_export_interval", TimeSpan.Zero, allowZero: false);
            telemetry = telemetry with { MetricExportInterval = interval > TimeSpan.Zero ? interval : null };
        }

        return telemetry;
    }

    /// <summary>A mapping of names to values (or the variable's own <c>k=v,k=v</c> text), as the variable's text.</summary>
    private static string? ReadAttributes(YamlSection t, YamlNode node)
    {
        const string Example = "a mapping such as {deployment.environment: production, host.name: gw-1}";
        switch (node)
        {
            case YamlScalarNode { Value: var text }:
                return NonEmpty(text);
            case YamlMappingNode mapping:
                var pairs = new List<string>();
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is YamlScalarNode { Value: { Length: > 0 } name } && value is YamlScalarNode { Value: { } v }
                        && !name.Contains('=', StringComparison.Ordinal) && !name.Contains(',', StringComparison.Ordinal) && !v.Contains(',', StringComparison.Ordinal) && !v.Contains('=', StringComparison.Ordinal))
                    {
                        pairs.Add($"{name}={v.Trim()}");
                    }
                    else
                    {
                        t.Error("resource_attributes", $"must be {Example} (names and values without '=' or ',')");
                        return null;
                    }
                }

                return pairs.Count == 0 ? null : string.Join(',', pairs);
            default:
                t.Error("resource_attributes", $"must be {Example}");
                return null;
        }
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();
}
