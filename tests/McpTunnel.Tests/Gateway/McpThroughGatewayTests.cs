using System.Net;
using System.Text;
using McpTunnel.Tests.Infrastructure;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// The real MCP SDK client, over WebSocket + inner TLS, through the real gateway, to the real MCP SDK server.
/// </summary>
public sealed class McpThroughGatewayTests : IAsyncLifetime
{
    private TestMcpServer _mcp = null!;
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _mcp = await TestMcpServer.StartAsync();
        _gateway = await GatewayHarness.StartAsync(
            $"echo: http://127.0.0.1:{_mcp.Port}",
            "upstream:\n  allowed_ips: [127.0.0.0/8]");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _mcp.DisposeAsync();
    }

    private static async Task<McpClient> ConnectAsync(HttpClient http) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri($"https://{GatewayHarness.Host("echo")}/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, http, loggerFactory: null, ownsHttpClient: false));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Initialize_list_and_call_a_tool_over_http1_and_http2(bool http2)
    {
        using var http = _gateway.CreateClient(http2);
        await using var client = await ConnectAsync(http);

        Assert.Equal("test-mcp", client.ServerInfo?.Name);
        Assert.False(string.IsNullOrEmpty(client.SessionId));
        var tools = await client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "hello");
        var result = await client.CallToolAsync("hello", new Dictionary<string, object?> { ["name"] = "tunnel" });
        Assert.Equal("Hello, tunnel!", Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text);
        Assert.Contains("request started method=POST host=echo.abcd1234.tunnel.test path=/mcp", _gateway.Logs.Messages);
        // The access line is written when the gateway finishes the request, just after the client has its answer.
        var access = await _gateway.Logs.WaitForAsync("rpc=tools/call tool=hello");
        Assert.StartsWith("request finished route=echo method=POST path=/mcp status=200", access.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("tunnel!", access.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Many_sessions_run_at_once_each_on_its_own_websockets()
    {
        var parallel = Enumerable.Range(0, 16).Select(async i =>
        {
            using var http = _gateway.CreateClient(http2: i % 2 == 0);
            await using var client = await ConnectAsync(http);
            var result = await client.CallToolAsync("hello", new Dictionary<string, object?> { ["name"] = $"p{i}" });
            return ((TextContentBlock)result.Content[0]).Text;
        });
        var texts = await Task.WhenAll(parallel);
        Assert.Equal(16, texts.Distinct().Count());
        Assert.True(_gateway.Server.Metrics.WebSocketsTotal >= 16);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_notification_arrives_before_the_result_exists(bool http2)
    {
        // The server sends a progress notification, then waits for a gate that only the client's progress
        // handler opens. If the gateway buffered the SSE response, the notification would never arrive and
        // the call would time out.
        using var http = _gateway.CreateClient(http2);
        await using var client = await ConnectAsync(http);
        var gate = _mcp.Gate($"g{http2}");
        var progress = new SynchronousProgress(_ => gate.TrySetResult());

        var result = await client.CallToolAsync("gated", new Dictionary<string, object?> { ["gate"] = $"g{http2}" }, progress)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("after gate", ((TextContentBlock)result.Content[0]).Text);
        Assert.Equal("before gate", progress.First?.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_result_of_several_megabytes_arrives_whole(bool http2)
    {
        const int size = 6 * 1024 * 1024;
        using var http = _gateway.CreateClient(http2);
        await using var client = await ConnectAsync(http);
        var result = await client.CallToolAsync("big", new Dictionary<string, object?> { ["size"] = size });
        var text = ((TextContentBlock)result.Content[0]).Text;
        Assert.Equal(size, text.Length);
        Assert.Equal(TestMcpServer.BigText(size), text);
    }

    [Fact]
    public async Task The_session_id_round_trips_and_delete_ends_the_session()
    {
        using var http = _gateway.CreateClient();
        string sessionId;
        await using (var client = await ConnectAsync(http))
        {
            sessionId = client.SessionId!;
            await client.ListToolsAsync();
        }

        // Disposing the client sent DELETE through the gateway; the server no longer knows the session.
        Assert.Contains(_gateway.Logs.Messages, m => m.Contains("request started method=DELETE", StringComparison.Ordinal));
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://{GatewayHarness.Host("echo")}/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Mcp-Session-Id", sessionId);
        request.Headers.Add("MCP-Protocol-Version", "2025-06-18");
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private sealed class SynchronousProgress(Action<ProgressNotificationValue> onReport) : IProgress<ProgressNotificationValue>
    {
        public ProgressNotificationValue? First { get; private set; }

        public void Report(ProgressNotificationValue value)
        {
            First ??= value;
            onReport(value);
        }
    }
}
