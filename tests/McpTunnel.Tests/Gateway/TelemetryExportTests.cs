using System.Net;
using System.Text;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// OTLP export to a loopback collector (<see cref="OtlpReceiver"/>), configured with the standard OTEL_*
/// variables: spans per MCP call and metric
/// points, after real requests through the tunnel. And nothing at all without an endpoint.
/// </summary>
public sealed class TelemetryExportTests : IAsyncLifetime
{
    private OtlpReceiver _collector = null!;
    private EchoUpstream _echo = null!;

    public async Task InitializeAsync()
    {
        _collector = await OtlpReceiver.StartAsync();
        _echo = await EchoUpstream.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _echo.DisposeAsync();
        await _collector.DisposeAsync();
    }

    private Task<GatewayHarness> StartGatewayAsync(Dictionary<string, string> environment, string appliance = "") => GatewayHarness.StartAsync(
        $"echo: http://127.0.0.1:{_echo.Port}", "upstream:\n  allowed_ips: [127.0.0.0/8]\n" + appliance, logLevel: "info", environment: environment);

    private const string CallerTraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    /// <summary>A tool call with the caller's own trace context (by default <see cref="CallerTraceParent"/>); the headers the upstream received.</summary>
    private static async Task<System.Text.Json.JsonElement> CallWithTraceAsync(GatewayHarness gateway, string tool, string traceParent = CallerTraceParent,
        string? traceState = "vendor=caller")
    {
        using var http = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"https://{GatewayHarness.Host("echo")}/mcp")) { Content = ToolCall(tool) };
        request.Headers.Add("traceparent", traceParent);
        if (traceState is not null)
        {
            request.Headers.Add("tracestate", traceState);
        }

        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var echoed = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return echoed.RootElement.GetProperty("headers").Clone();
    }

    private static StringContent ToolCall(string tool) => new(
        $$"""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"{{tool}}","arguments":{"secret":"payload-must-not-leave""" + "\"}}}",
        Encoding.UTF8, "application/json");

    [Fact]
    public async Task A_tool_call_is_one_span_named_after_it_and_its_trace_id_in_the_access_line()
    {
        await using var gateway = await StartGatewayAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
            ["OTEL_SERVICE_NAME"] = "tunnel-under-test",
        });
        using var http = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"https://{GatewayHarness.Host("echo")}/mcp")) { Content = ToolCall("hello") };
        // The caller's own trace: ours joins it.
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.Add("Mcp-Session-Id", "session-secret-123");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var echoed = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var upstreamHeaders = echoed.RootElement.GetProperty("headers");

        // Test classes run in parallel and every gateway in this process starts spans on the same source once a
        // tracer listens, so pick this request's span by its trace, then check its name.
        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.TraceId == "0af7651916cd43dd8448eb211c80319c" && s.Attributes.GetValueOrDefault("gen_ai.tool.name") == "hello");
        Assert.Equal("tools/call hello", span.Name);
        Assert.Equal(2, span.Kind); // SERVER
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", span.TraceId);
        Assert.Equal("b7ad6b7169203331", span.ParentSpanId);
        Assert.Equal("echo", span.Attributes["mcp_tunnel.route"]);
        Assert.Equal("tools/call", span.Attributes["mcp.method.name"]);
        Assert.Equal("hello", span.Attributes["gen_ai.tool.name"]);
        Assert.Equal("200", span.Attributes["http.response.status_code"]);
        Assert.True(long.Parse(span.Attributes["http.request.body.size"], System.Globalization.CultureInfo.InvariantCulture) > 50);
        Assert.Equal("tunnel-under-test", span.Resource["service.name"]);
        // The session only as the access log's hash; no payload.
        Assert.Matches("^[0-9a-f]{12}$", span.Attributes["mcp_tunnel.session_hash"]);
        Assert.DoesNotContain(span.Attributes.Values, v => v.Contains("session-secret", StringComparison.Ordinal) || v.Contains("payload-must-not-leave", StringComparison.Ordinal));

        // The upstream request is the gateway's client span, a child of ours; the upstream got that span's context in
        // place of the caller's, so an MCP server that traces joins this trace under the gateway.
        var upstreamSpan = await _collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == span.SpanId);
        Assert.Equal("McpTunnel", upstreamSpan.Scope);
        Assert.Equal("POST", upstreamSpan.Name);
        Assert.Equal(3, upstreamSpan.Kind); // CLIENT
        Assert.Equal("127.0.0.1", upstreamSpan.Attributes["server.address"]);
        Assert.Equal(_echo.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), upstreamSpan.Attributes["server.port"]);
        Assert.Equal("200", upstreamSpan.Attributes["http.response.status_code"]);
        Assert.Contains("http.response.headers", upstreamSpan.Events);
        Assert.Equal($"00-{span.TraceId}-{upstreamSpan.SpanId}-01", upstreamHeaders.GetProperty("traceparent").GetString());
        // This gateway's pool was empty: the request dialled the upstream, a child of the upstream span.
        var dial = await _collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == upstreamSpan.SpanId);
        Assert.Equal("upstream connect", dial.Name);
        Assert.Equal("McpTunnel", dial.Scope);
        Assert.Equal("127.0.0.1", dial.Attributes["network.peer.address"]);
        Assert.Equal("http", dial.Attributes["url.scheme"]);
        // No platform span rides along (HttpClient's request and connection spans were an activity per upstream
        // request, sampled or not, and roots of traces of their own).
        Assert.DoesNotContain(_collector.Spans, s => s.TraceId == span.TraceId && s.Scope != "McpTunnel");

        // The access line carries the trace id.
        var access = await gateway.Logs.WaitForAsync("rpc=tools/call tool=hello");
        Assert.EndsWith($"trace_id={span.TraceId}", access.Message, StringComparison.Ordinal);

        // Metric points of the same requests reach the collector too.
        var requests = await _collector.WaitForPointAsync(p => p.Metric == "mcp_tunnel.requests" && p.Attributes.GetValueOrDefault("route") == "echo" && p.Value >= 1);
        Assert.Equal("{request}", requests.Unit);
        Assert.Equal("POST", requests.Attributes["method"]);
        var calls = await _collector.WaitForPointAsync(p => p.Metric == "mcp_tunnel.mcp.call.duration" && p.Count >= 1);
        Assert.Equal("s", calls.Unit);
        Assert.Equal("hello", calls.Attributes["gen_ai.tool.name"]);
        Assert.Equal("application/x-protobuf", _collector.ContentTypes["/v1/traces"]);
    }

    [Fact]
    public async Task A_signals_own_endpoint_exports_that_signal_only()
    {
        // Only the metrics endpoint: metrics reach the collector, and no tracer runs (the SDK would otherwise send
        // spans to its default localhost:4318), so the upstream gets the caller's trace context untouched.
        await using (var metricsOnly = await StartGatewayAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = $"{_collector.Endpoint}/v1/metrics",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
        }))
        {
            var headers = await CallWithTraceAsync(metricsOnly, "metrics-only");
            Assert.Equal(CallerTraceParent, headers.GetProperty("traceparent").GetString());
            var calls = await _collector.WaitForPointAsync(p => p.Metric == "mcp_tunnel.mcp.call.duration" && p.Attributes.GetValueOrDefault("gen_ai.tool.name") == "metrics-only");
            Assert.True(calls.Count >= 1);
        }

        // Only the traces endpoint: the span reaches the collector.
        await using var tracesOnly = await StartGatewayAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = $"{_collector.Endpoint}/v1/traces",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        });
        var traced = await CallWithTraceAsync(tracesOnly, "traces-only");
        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.Name == "tools/call traces-only");
        Assert.Equal(CallerTraceParent[3..35], span.TraceId);
        Assert.NotEqual(CallerTraceParent, traced.GetProperty("traceparent").GetString());

        // A signal endpoint that is not a URL stops the start with the variable's name and the fix.
        var bad = await Assert.ThrowsAsync<McpTunnel.Gateway.Diagnostics.TelemetrySettingsException>(() =>
            StartGatewayAsync(new() { ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = "collector:4318" }));
        Assert.StartsWith("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=\"collector:4318\" must be the http:// or https:// URL", bad.Message, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:4318/v1/metrics", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_endpoint_nothing_is_exported_and_no_span_is_made()
    {
        // The collector is there, but not configured: OTEL_SDK_DISABLED wins even with an endpoint set.
        await using (var disabled = await StartGatewayAsync(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint, ["OTEL_SDK_DISABLED"] = "true" }))
        {
            await CallAsync(disabled, "disabled");
        }

        await using (var plain = await StartGatewayAsync([]))
        {
            await CallAsync(plain, "plain");
            // Not traced, so not touched: the caller's trace context reaches the upstream as it was sent.
            var headers = await CallWithTraceAsync(plain, "plain-traced");
            Assert.Equal(CallerTraceParent, headers.GetProperty("traceparent").GetString());
            Assert.Equal("vendor=caller", headers.GetProperty("tracestate").GetString());
        }

        // The service's variables win over the file: OTEL_SDK_DISABLED beats appliance.telemetry.otlp_endpoint.
        await using (var overridden = await StartGatewayAsync(new() { ["OTEL_SDK_DISABLED"] = "true" },
            $"appliance:\n  telemetry:\n    otlp_endpoint: {_collector.Endpoint}\n"))
        {
            await CallAsync(overridden, "overridden");
        }

        // A provider exports what it holds when it is disposed (the gateway's host disposes it), so had either of
        // the two exported anything, the collector would have had a request by now.
        Assert.Empty(_collector.ContentTypes);

        // (The same collector does receive from a configured gateway: the test above.)

        static async Task CallAsync(GatewayHarness gateway, string tool)
        {
            using var http = gateway.CreateClient();
            using var response = await http.PostAsync(new Uri($"https://{GatewayHarness.Host("echo")}/mcp"), ToolCall(tool));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var access = await gateway.Logs.WaitForAsync($"tool={tool}");
            Assert.EndsWith("trace_id=-", access.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_file_alone_configures_export_and_can_keep_the_callers_trace_context()
    {
        await using var gateway = await StartGatewayAsync([],
            $"appliance:\n  telemetry:\n    otlp_endpoint: {_collector.Endpoint}\n    service_name: from-the-file\n    propagate_trace_context: false\n");
        var headers = await CallWithTraceAsync(gateway, "untouched");

        // Exported (the gateway's span joins the caller's trace) ...
        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.Name == "tools/call untouched");
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", span.TraceId);
        Assert.Equal("from-the-file", span.Resource["service.name"]);
        // ... but with propagation off the upstream sees the caller's context, not the gateway's.
        Assert.Equal(CallerTraceParent, headers.GetProperty("traceparent").GetString());
        Assert.Equal("vendor=caller", headers.GetProperty("tracestate").GetString());
    }

    [Fact]
    public async Task A_call_without_the_callers_trace_context_is_a_trace_of_its_own()
    {
        // cloudflared and most MCP clients send no traceparent; the gateway's span is then the root (not a child of
        // ASP.NET Core's own unexported request activity, which would get it dropped by the parent-based sampler).
        await using var gateway = await StartGatewayAsync(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint, ["OTEL_BSP_SCHEDULE_DELAY"] = "100" });
        using var http = gateway.CreateClient();
        using var response = await http.PostAsync(new Uri($"https://{GatewayHarness.Host("echo")}/mcp"), ToolCall("rootless"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var echoed = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.Name == "tools/call rootless");
        Assert.Equal("", span.ParentSpanId);
        var upstreamSpan = await _collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == span.SpanId);
        Assert.Equal(3, upstreamSpan.Kind); // CLIENT
        Assert.Equal($"00-{span.TraceId}-{upstreamSpan.SpanId}-01", echoed.RootElement.GetProperty("headers").GetProperty("traceparent").GetString());
        var access = await gateway.Logs.WaitForAsync("tool=rootless");
        Assert.EndsWith($"trace_id={span.TraceId}", access.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unsampled_call_keeps_the_callers_trace_context_and_a_failed_dial_is_an_error_span()
    {
        // A tracer listens but samples nothing: the request is forwarded as if the gateway did not trace.
        await using (var unsampled = await StartGatewayAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_TRACES_SAMPLER"] = "always_off",
        }))
        {
            var headers = await CallWithTraceAsync(unsampled, "unsampled");
            Assert.Equal(CallerTraceParent, headers.GetProperty("traceparent").GetString());
            Assert.Equal("vendor=caller", headers.GetProperty("tracestate").GetString());
            var access = await unsampled.Logs.WaitForAsync("tool=unsampled");
            Assert.EndsWith($"trace_id={CallerTraceParent[3..35]}", access.Message, StringComparison.Ordinal);

            // Without a caller's context there is no trace id to show: none is exported or sent upstream, so the
            // access line must not name one (the SDK's unsampled root activity carries a fresh id nobody will see).
            using var rootClient = unsampled.CreateClient();
            using var rootResponse = await rootClient.PostAsync(new Uri($"https://{GatewayHarness.Host("echo")}/mcp"), ToolCall("unsampled-root"));
            Assert.Equal(HttpStatusCode.OK, rootResponse.StatusCode);
            var rootless = await unsampled.Logs.WaitForAsync("tool=unsampled-root");
            Assert.EndsWith("trace_id=-", rootless.Message, StringComparison.Ordinal);
        }

        // The default sampler follows the caller's decision: a caller that did not sample is not traced either, and
        // its headers pass as they came.
        await using (var followed = await StartGatewayAsync(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint }))
        {
            const string unsampledParent = "00-1bf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
            var headers = await CallWithTraceAsync(followed, "caller-unsampled", unsampledParent, traceState: null);
            Assert.Equal(unsampledParent, headers.GetProperty("traceparent").GetString());
        }

        // An upstream that refuses the connection: the dial span says so, under an upstream span in error.
        using var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await using var refused = await GatewayHarness.StartAsync($"refused-dial: http://127.0.0.1:{port}", "upstream:\n  allowed_ips: [127.0.0.0/8]\n", logLevel: "info",
            environment: new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint, ["OTEL_BSP_SCHEDULE_DELAY"] = "100" });
        using var http = refused.CreateClient();
        using var response = await http.PostAsync(new Uri($"https://{GatewayHarness.Host("refused-dial")}/mcp"), ToolCall("refused-dial"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        // The body was never read (nothing to send it to), so the span keeps the HTTP method's name.
        var span = await _collector.WaitForSpanAsync(s => s.Kind == 2 && s.Attributes.GetValueOrDefault("mcp_tunnel.route") == "refused-dial");
        Assert.Equal("POST", span.Name);
        Assert.Equal(2, span.StatusCode); // ERROR
        var upstreamSpan = await _collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == span.SpanId);
        Assert.Equal(2, upstreamSpan.StatusCode);
        Assert.Equal("Request", upstreamSpan.Attributes["error.type"]);
        var dial = await _collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == upstreamSpan.SpanId);
        Assert.Equal("upstream connect", dial.Name);
        Assert.Equal(2, dial.StatusCode);
        Assert.Equal(nameof(McpTunnel.Gateway.Upstream.UpstreamDialException), dial.Attributes["error.type"]);
    }

    [Fact]
    public async Task An_explicit_http_protobuf_protocol_starts_and_exports()
    {
        // OTEL_EXPORTER_OTLP_PROTOCOL set by the operator, as the specification allows: the gateway used to stop at
        // start with "An item with the same key has already been added".
        await using var gateway = await StartGatewayAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        });
        using var http = gateway.CreateClient();
        using var response = await http.PostAsync(new Uri($"https://{GatewayHarness.Host("echo")}/mcp"), ToolCall("protocol-set"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.Attributes.GetValueOrDefault("gen_ai.tool.name") == "protocol-set");
        Assert.Equal("tools/call protocol-set", span.Name);
    }
}
