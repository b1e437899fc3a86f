using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>Every error answer of the data path, with the log line operators grep for.</summary>
public sealed class GatewayErrorTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;
    private TcpListener _resetter = null!;
    private readonly LoopbackPort _refused = LoopbackPort.Refusing();
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        _resetter = new TcpListener(IPAddress.Loopback, 0);
        _resetter.Start();
        _ = ResetEveryConnectionAsync(_resetter);
        _gateway = await GatewayHarness.StartAsync(
            $"""
            echo: http://127.0.0.1:{_upstream.Port}
            refused: http://127.0.0.1:{_refused.Port}
            reset: http://127.0.0.1:{((IPEndPoint)_resetter.LocalEndpoint).Port}
            """,
            "upstream:\n  allowed_ips: [127.0.0.0/8]");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _resetter.Stop();
        await _upstream.DisposeAsync();
        _refused.Dispose();
    }

    private static async Task ResetEveryConnectionAsync(TcpListener listener)
    {
        try
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync();
                client.Client.LingerState = new LingerOption(true, 0);
                client.Close();
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The listener was stopped.
        }
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    [InlineData("OPTIONS")]
    [InlineData("HEAD")]
    public async Task Plain_http_on_the_websocket_listener_gets_426_and_never_reaches_a_route(string method)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(_gateway.HttpUri, "/mcp"));
        request.Headers.Host = GatewayHarness.Host("echo");
        if (method is "POST" or "PUT" or "PATCH")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("websocket", response.Headers.Upgrade.ToString());
        Assert.Equal(0, _gateway.Server.Metrics.Requests);
        Assert.DoesNotContain(_gateway.Logs.Messages, m => m.StartsWith("request started", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_host_gets_502_no_route_configured_for_host()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("nosuch")}/mcp"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("No route configured for host\n", await response.Content.ReadAsStringAsync());
        Assert.Contains("no route for host host=nosuch.abcd1234.tunnel.test", _gateway.Logs.Messages);
        Assert.Contains("request started method=GET host=nosuch.abcd1234.tunnel.test path=/mcp", _gateway.Logs.Messages);
    }

    [Fact]
    public async Task A_refused_upstream_gets_502_with_the_dial_error_logged()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("refused")}/mcp"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var line = await _gateway.Logs.WaitForAsync("upstream request failed route=refused");
        Assert.Contains($"dial tcp 127.0.0.1:{_refused.Port}: connect: connection refused", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_that_resets_gets_502()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("reset")}/mcp"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await _gateway.Logs.WaitForAsync("upstream request failed route=reset");
        Assert.Equal(1, _gateway.Server.Metrics.UpstreamErrors);
    }

    [Fact]
    public async Task The_gateway_still_serves_after_errors()
    {
        using var http = _gateway.CreateClient();
        using (await http.GetAsync(new Uri($"https://{GatewayHarness.Host("nosuch")}/"))) { }
        using (await http.GetAsync(new Uri($"https://{GatewayHarness.Host("refused")}/"))) { }
        using var ok = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/fine"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task A_handshake_abandoned_after_the_client_hello_is_logged_as_a_tls_handshake_failure()
    {
        // The edge rejects a bad certificate with an alert in the middle of the handshake; a client that
        // drops the connection right after its ClientHello exercises the same server-side path.
        using var webSocket = new ClientWebSocket();
        await webSocket.ConnectAsync(_gateway.WebSocketUri, CancellationToken.None);
        var stream = new AbortAfterFirstWrite(WebSocketStream.Create(webSocket, WebSocketMessageType.Binary), webSocket);
        await using var tls = new System.Net.Security.SslStream(stream);
        await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(GatewayHarness.Host("echo")));

        var line = await _gateway.Logs.WaitForAsync("tls handshake failed");
        Assert.StartsWith("tls handshake failed: ", line.Message, StringComparison.Ordinal);
        Assert.Equal(1, _gateway.Server.Metrics.TlsHandshakeFailures);
    }

    [Theory]
    [InlineData("error:0A000418:SSL routines::tlsv1 alert unknown ca", "remote error: tls: unknown certificate authority")]
    [InlineData("error:0A000412:SSL routines::sslv3 alert bad certificate", "remote error: tls: bad certificate")]
    [InlineData("error:0A00010B:SSL routines::wrong version number", "plaintext inside the WebSocket")]
    [InlineData("error:0A000102:SSL routines::unsupported protocol", "unsupported TLS version")]
    public void Handshake_failure_reasons_use_the_words_of_the_troubleshooting_guide(string openSslError, string expected)
    {
        var exception = new System.Security.Authentication.AuthenticationException("Authentication failed, see inner exception.", new InvalidOperationException(openSslError));
        Assert.Contains(expected, McpTunnel.Gateway.Tls.TlsHandshakeFailureReporter.Describe(exception), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_inside_the_websocket_is_a_tls_handshake_failure()
    {
        using var webSocket = new ClientWebSocket();
        await webSocket.ConnectAsync(_gateway.WebSocketUri, CancellationToken.None);
        // Plain HTTP where TLS should start, in a binary message (a text message is refused with 1003 before TLS
        // sees anything: HostileInputTests).
        var request = Encoding.ASCII.GetBytes($"GET /mcp HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\n\r\n");
        await webSocket.SendAsync(request, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);

        var line = await _gateway.Logs.WaitForAsync("tls handshake failed");
        Assert.Contains("plaintext inside the WebSocket", line.Message, StringComparison.Ordinal);
        Assert.Equal([("plaintext", 1L)], _gateway.Server.Metrics.TlsHandshakeFailuresByReason);
        Assert.Equal(0, _gateway.Server.Metrics.Requests);
    }

    [Fact]
    public async Task A_client_offering_only_tls_1_1_is_refused()
    {
        using var webSocket = new ClientWebSocket();
        await webSocket.ConnectAsync(_gateway.WebSocketUri, CancellationToken.None);
        await using var tls = new System.Net.Security.SslStream(WebSocketStream.Create(webSocket, WebSocketMessageType.Binary));
#pragma warning disable SYSLIB0039, CA5397 // TLS 1.1 is exactly what this test offers, to see it refused.
        var options = new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = GatewayHarness.Host("echo"),
            EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls11,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        };
#pragma warning restore SYSLIB0039, CA5397
        await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(options));

        var line = await _gateway.Logs.WaitForAsync("tls handshake failed");
        Assert.Contains("TLS 1.2 or 1.3", line.Message, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.Requests);
        Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
    }

    private sealed class AbortAfterFirstWrite(Stream inner, WebSocket webSocket) : InterceptingStream(inner)
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Inner.WriteAsync(buffer, cancellationToken);
            webSocket.Abort();
        }
    }
}
