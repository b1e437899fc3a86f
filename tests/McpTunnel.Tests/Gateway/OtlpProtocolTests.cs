using System.Net;
using System.Text;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c> set by the operator, as the OpenTelemetry specification allows: the gateway
/// starts and exports over it (it used to stop at start with "An item with the same key has already been added").
/// </summary>
public sealed class OtlpProtocolTests : IAsyncLifetime
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

    [Fact]
    public async Task An_explicit_http_protobuf_protocol_starts_and_exports()
    {
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{_echo.Port}", "upstream:\n  allowed_ips: [127.0.0.0/8]\n", logLevel: "info",
            environment: new Dictionary<string, string>
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            });
        using var http = gateway.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"https://{GatewayHarness.Host("echo")}/mcp"))
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello"}}""", Encoding.UTF8, "application/json"),
        };
        // With the caller's trace context, as TelemetryExportTests send it (a request without one is traced only once
        // the hosting layer's own activity no longer parents ours; that is RequestTracing's business, not this test's).
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var span = await _collector.WaitForSpanAsync(s => s.Scope == "McpTunnel");
        Assert.Equal("tools/call hello", span.Name);
    }
}
