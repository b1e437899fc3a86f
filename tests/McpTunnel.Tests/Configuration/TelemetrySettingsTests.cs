using McpTunnel.Configuration;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Configuration;

/// <summary>
/// <c>appliance.telemetry:</c>: each setting is one standard <c>OTEL_*</c> variable, bad values are errors at their
/// line with the fix, and nothing is set by default.
/// </summary>
public sealed class TelemetrySettingsTests
{
    private static ConfigLoadResult Parse(string yaml) => MinimalConfig.Parse(yaml);

    [Fact]
    public void By_default_the_file_sets_no_variable()
    {
        var telemetry = Parse("").Config!.Appliance.Telemetry;
        Assert.True(telemetry.Enabled);
        Assert.True(telemetry.PropagateTraceContext);
        foreach (var name in McpTunnel.Gateway.Diagnostics.GatewayTelemetry.Variables)
        {
            Assert.Null(telemetry.Variable(name));
        }
    }

    [Fact]
    public void Every_setting_becomes_its_standard_variable()
    {
        var result = Parse("""
            appliance:
              telemetry:
                enabled: false
                otlp_endpoint: http://127.0.0.1:4318
                otlp_protocol: grpc
                otlp_headers: "api-key=abc"
                service_name: gw-lab
                resource_attributes: { deployment.environment: lab, host.name: gw-1 }
                metric_export_interval: 15s
                propagate_trace_context: false
            """);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var telemetry = result.Config!.Appliance.Telemetry;
        Assert.Equal("true", telemetry.Variable("OTEL_SDK_DISABLED"));
        Assert.Equal("http://127.0.0.1:4318/", telemetry.Variable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        Assert.Equal("grpc", telemetry.Variable("OTEL_EXPORTER_OTLP_PROTOCOL"));
        Assert.Equal("api-key=abc", telemetry.Variable("OTEL_EXPORTER_OTLP_HEADERS"));
        Assert.Equal("gw-lab", telemetry.Variable("OTEL_SERVICE_NAME"));
        Assert.Equal("deployment.environment=lab,host.name=gw-1", telemetry.Variable("OTEL_RESOURCE_ATTRIBUTES"));
        Assert.Equal("15000", telemetry.Variable("OTEL_METRIC_EXPORT_INTERVAL"));
        Assert.Equal("none", telemetry.Variable("OTEL_PROPAGATORS"));
        // Every variable the file can set is one the gateway hands to the SDK.
        Assert.All(new[] { "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_PROPAGATORS" },
            name => Assert.Contains(name, McpTunnel.Gateway.Diagnostics.GatewayTelemetry.Variables));
    }

    [Fact]
    public void Resource_attributes_may_be_the_variables_own_text()
    {
        var telemetry = Parse("appliance:\n  telemetry:\n    resource_attributes: \"a=1,b=2\"\n").Config!.Appliance.Telemetry;
        Assert.Equal("a=1,b=2", telemetry.Variable("OTEL_RESOURCE_ATTRIBUTES"));
    }

    [Theory]
    [InlineData("otlp_endpoint: collector:4318", "appliance.telemetry.otlp_endpoint", "\"collector:4318\" must be an http:// or https:// URL of an OTLP collector, for example http://127.0.0.1:4318")]
    [InlineData("otlp_endpoint: ftp://127.0.0.1/", "appliance.telemetry.otlp_endpoint", "\"ftp://127.0.0.1/\" must be an http:// or https:// URL")]
    [InlineData("otlp_protocol: http/json", "appliance.telemetry.otlp_protocol", "\"http/json\" is not http/protobuf or grpc")]
    [InlineData("metric_export_interval: 0s", "appliance.telemetry.metric_export_interval", "must be greater than zero")]
    [InlineData("resource_attributes: { \"a,b\": c }", "appliance.telemetry.resource_attributes", "must be a mapping such as {deployment.environment: production, host.name: gw-1} (names and values without '=' or ',')")]
    [InlineData("resource_attributes: [a, b]", "appliance.telemetry.resource_attributes", "must be a mapping such as")]
    [InlineData("propagate_trace_context: maybe", "appliance.telemetry.propagate_trace_context", "\"maybe\" is not a boolean; use true or false")]
    [InlineData("exporter: otlp", "appliance.telemetry.exporter", "unknown")]
    public void A_bad_setting_is_an_error_at_its_line_with_the_fix(string line, string field, string message)
    {
        var result = Parse("appliance:\n  telemetry:\n    " + line + "\n");
        var error = Assert.Single(result.Errors);
        Assert.Equal(field, error.Field);
        Assert.Equal(7, error.Line);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Telemetry_that_is_not_a_mapping_is_an_error()
    {
        var error = Assert.Single(Parse("appliance:\n  telemetry: on\n").Errors);
        Assert.Equal("appliance.telemetry", error.Field);
        Assert.StartsWith("must be a mapping (enabled, otlp_endpoint", error.Message, StringComparison.Ordinal);
    }
}
