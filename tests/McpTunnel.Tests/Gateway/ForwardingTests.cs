using System.Net;
using System.Text;
using System.Text.Json;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>What the upstream receives, and how responses stream back.</summary>
public sealed class ForwardingTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        _gateway = await GatewayHarness.StartAsync(
            $"""
            echo: http://127.0.0.1:{_upstream.Port}
            Full.Host.Example: http://127.0.0.1:{_upstream.Port}
            """,
            "upstream:\n  allowed_ips: [127.0.0.1]");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private static async Task<JsonElement> EchoAsync(HttpClient http, HttpRequestMessage request)
    {
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Method_path_query_and_body_reach_the_upstream_unchanged(bool http2)
    {
        using var http = _gateway.CreateClient(http2);
        using var request = new HttpRequestMessage(HttpMethod.Put, $"https://{GatewayHarness.Host("echo")}/tools/a%20b/c?x=1&y=two%3D2")
        {
            Content = new StringContent("payload", Encoding.UTF8, "text/plain"),
        };
        var echo = await EchoAsync(http, request);
        Assert.Equal("PUT", echo.GetProperty("method").GetString());
        Assert.Equal("/tools/a%20b/c?x=1&y=two%3D2", echo.GetProperty("target").GetString());
        Assert.Equal("payload", echo.GetProperty("body").GetString());
    }

    [Fact]
    public async Task Host_is_kept_forwarded_headers_are_added_and_hop_by_hop_headers_dropped()
    {
        static HttpRequestMessage Request(string uri)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, uri);
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
            request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "http");
            request.Headers.TryAddWithoutValidation("X-End-To-End", "kept");
            request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
            request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "end-to-end-token");
            return request;
        }

        // Control: sent straight to the upstream, the hop-by-hop headers do arrive, so their absence below
        // is the gateway's doing.
        using (var direct = new HttpClient())
        using (var directRequest = Request($"http://127.0.0.1:{_upstream.Port}/h"))
        {
            var directHeaders = (await EchoAsync(direct, directRequest)).GetProperty("headers");
            Assert.True(directHeaders.TryGetProperty("keep-alive", out _));
            Assert.True(directHeaders.TryGetProperty("proxy-connection", out _));
        }

        using var http = _gateway.CreateClient();
        using var request = Request($"https://{GatewayHarness.Host("echo")}/h");
        var headers = (await EchoAsync(http, request)).GetProperty("headers");

        Assert.Equal(GatewayHarness.Host("echo"), headers.GetProperty("host").GetString());
        Assert.Equal("https", headers.GetProperty("x-forwarded-proto").GetString());
        Assert.Equal(GatewayHarness.Host("echo"), headers.GetProperty("x-forwarded-host").GetString());
        Assert.Equal("203.0.113.7, 127.0.0.1", headers.GetProperty("x-forwarded-for").GetString());
        Assert.Equal("kept", headers.GetProperty("x-end-to-end").GetString());
        Assert.Equal("Bearer end-to-end-token", headers.GetProperty("authorization").GetString());
        Assert.False(headers.TryGetProperty("keep-alive", out _));
        Assert.False(headers.TryGetProperty("proxy-connection", out _));
        Assert.False(headers.TryGetProperty("traceparent", out _));
    }

    [Theory]
    [InlineData("FULL.host.example")]
    [InlineData("full.host.example.")]
    [InlineData("ECHO.ABCD1234.TUNNEL.TEST")]
    public async Task Routing_ignores_case_and_trailing_dots_and_prefers_full_host_keys(string host)
    {
        // The inner Host differs from the TLS name here, so this client does not check the certificate.
        using var http = _gateway.CreateClient(verify: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("echo")}/r");
        request.Headers.Host = host;
        var echo = await EchoAsync(http, request);
        Assert.Equal("GET", echo.GetProperty("method").GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Server_sent_events_arrive_one_by_one(bool http2)
    {
        using var http = _gateway.CreateClient(http2);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("echo")}/sse");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        // The second event is written only after the test has seen the first: a buffering proxy deadlocks here.
        Assert.Equal("event: first", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal("data: one", await reader.ReadLineAsync());
        _upstream.SseGate.TrySetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains("event: second\ndata: two", rest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_caller_that_goes_away_cancels_the_upstream_request()
    {
        var http = _gateway.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("echo")}/hang");
        // The event stream's headers arrive although no event has been written yet.
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(15));
        await _upstream.HangStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));

        // Dropping the response and the client closes the WebSocket, as cloudflared does when the caller leaves.
        response.Dispose();
        http.Dispose();

        await _upstream.HangAborted.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Sequential_requests_share_one_websocket(bool http2)
    {
        using var http = _gateway.CreateClient(http2);
        for (var i = 0; i < 10; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("echo")}/n{i}");
            var echo = await EchoAsync(http, request);
            Assert.Equal($"/n{i}", echo.GetProperty("target").GetString());
        }

        Assert.Equal(1, _gateway.Server.Metrics.WebSocketsTotal);
        Assert.Equal(10, _gateway.Server.Metrics.Requests);
    }

    [Fact]
    public async Task Upstream_status_codes_pass_through()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/status/418"));
        Assert.Equal((HttpStatusCode)418, response.StatusCode);
        Assert.Equal(0, _gateway.Server.Metrics.UpstreamErrors);
    }
}
