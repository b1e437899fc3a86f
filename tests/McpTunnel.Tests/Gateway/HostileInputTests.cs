using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Operations;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// Hostile or broken input on every layer. Each case asserts the documented answer and then that the
/// gateway still serves a good request.
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;
    private TcpListener _garbage = null!;
    private TcpListener _staller = null!;
    private TcpListener _hopByHop = null!;
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        _garbage = Serve(async client =>
        {
            var stream = client.GetStream();
            await stream.ReadAsync(new byte[4096]);
            await stream.WriteAsync("HTTP/1.1 banana\r\nthis is not http\r\n\r\n"u8.ToArray());
        });
        _staller = Serve(async client =>
        {
            // Reads the request and never answers: it holds the connection until the gateway gives up on it
            // (upstream_idle_timeout) and closes it, rather than for a guessed number of seconds.
            var stream = client.GetStream();
            var buffer = new byte[4096];
            while (await stream.ReadAsync(buffer) > 0)
            {
            }
        });
        _hopByHop = Serve(async client =>
        {
            // An upstream that nominates a header as hop-by-hop in its Connection header.
            var stream = client.GetStream();
            await stream.ReadAsync(new byte[4096]);
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nConnection: X-Hop, close\r\nX-Hop: upstream-internal\r\nX-End: kept\r\nContent-Length: 2\r\n\r\nok"u8.ToArray());
        });
        _gateway = await GatewayHarness.StartAsync(
            $"""
            echo: http://127.0.0.1:{_upstream.Port}
            garbage: http://127.0.0.1:{((IPEndPoint)_garbage.LocalEndpoint).Port}
            stall: http://127.0.0.1:{((IPEndPoint)_staller.LocalEndpoint).Port}
            hop: http://127.0.0.1:{((IPEndPoint)_hopByHop.LocalEndpoint).Port}
            xn--bcher-kva: http://127.0.0.1:{_upstream.Port}
            """,
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  request_headers_timeout: 1s\n  upstream_idle_timeout: 1s\n  tls_handshake_timeout: 2s\n  max_request_headers_bytes: 8192");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _garbage.Stop();
        _staller.Stop();
        _hopByHop.Stop();
        await _upstream.DisposeAsync();
    }

    private static TcpListener Serve(Func<TcpClient, Task> handle)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var client = await listener.AcceptTcpClientAsync();
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            try
                            {
                                await handle(client);
                            }
                            catch (IOException)
                            {
                            }
                        }
                    });
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        });
        return listener;
    }

    private async Task AssertStillServes()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/still-ok"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Sends raw bytes to listen_addr and returns what comes back until the server closes (or 10 s).</summary>
    private Task<string> RawOuterAsync(byte[] request, int readLimit = 65536) => RawOuterAsync(_gateway.HttpUri.Port, request, readLimit);

    private static async Task<string> RawOuterAsync(int port, byte[] request, int readLimit = 65536)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(request);
        var buffer = new byte[readLimit];
        var total = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            int read;
            while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token)) > 0)
            {
                total += read;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // Reset or still open after the timeout: what arrived so far is the answer.
        }

        return Encoding.ASCII.GetString(buffer, 0, total);
    }

    private byte[] Upgrade(string extraHeaders) => Upgrade(_gateway.HttpUri.Port, extraHeaders);

    private static byte[] Upgrade(int port, string extraHeaders) => Encoding.ASCII.GetBytes(
        $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extraHeaders}\r\n");

    /// <summary>A WebSocket handshake done by hand, so frames can be written raw afterwards.</summary>
    private async Task<(TcpClient Client, NetworkStream Stream)> RawWebSocketAsync()
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _gateway.HttpUri.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Upgrade("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
        var buffer = new byte[1024];
        var text = "";
        while (!text.Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            Assert.True(read > 0, "the upgrade was refused");
            text += Encoding.ASCII.GetString(buffer, 0, read);
        }

        Assert.StartsWith("HTTP/1.1 101", text, StringComparison.Ordinal);
        return (client, stream);
    }

    private static byte[] Frame(byte opcode, byte[] payload, bool fin = true, bool masked = true)
    {
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | opcode) };
        var mask = masked ? 0x80 : 0;
        if (payload.Length < 126)
        {
            header.Add((byte)(mask | payload.Length));
        }
        else
        {
            header.Add((byte)(mask | 126));
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }

        if (!masked)
        {
            return [.. header, .. payload];
        }

        byte[] key = [1, 2, 3, 4];
        return [.. header, .. key, .. payload.Select((b, i) => (byte)(b ^ key[i % 4]))];
    }

    private static async Task<bool> ClosedByServerAsync(NetworkStream stream)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return true;
                }

                // A close frame (opcode 8) from the server also counts.
                if ((buffer[0] & 0x0F) == 0x8)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [Theory]
    [InlineData("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")] // no key
    [InlineData("Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")] // no Connection: Upgrade
    [InlineData("Upgrade: h2c\r\nConnection: Upgrade\r\n")] // another protocol
    [InlineData("Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")] // no Upgrade
    public async Task Broken_upgrade_requests_get_426_and_never_a_websocket(string headers)
    {
        var answer = await RawOuterAsync(Upgrade(headers));
        Assert.StartsWith("HTTP/1.1 426", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.WebSocketsTotal);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_websocket_version_the_server_does_not_speak_is_refused()
    {
        var answer = await RawOuterAsync(Upgrade("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"));
        Assert.Matches("^HTTP/1.1 (400|426)", answer);
        Assert.Equal(0, _gateway.Server.Metrics.WebSocketsTotal);
        await AssertStillServes();
    }

    [Fact]
    public async Task An_oversized_outer_header_block_gets_431()
    {
        var answer = await RawOuterAsync(Upgrade($"X-Big: {new string('a', 70_000)}\r\n"));
        Assert.StartsWith("HTTP/1.1 431", answer, StringComparison.Ordinal);
        await AssertStillServes();
    }

    [Fact]
    public async Task Garbage_instead_of_http_on_the_outer_listener_gets_400()
    {
        var answer = await RawOuterAsync([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n']);
        Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), answer);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_slowloris_on_the_outer_listener_is_cut_by_the_header_timeout()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _gateway.HttpUri.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
        // Never finishes the header block; request_headers_timeout is 1s here.
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var closed = false;
        try
        {
            while (!closed)
            {
                await stream.WriteAsync("X-Slow: y\r\n"u8.ToArray(), timeout.Token);
                await Task.Delay(300, timeout.Token);
                if (client.Client.Poll(0, SelectMode.SelectRead))
                {
                    closed = await stream.ReadAsync(buffer, timeout.Token) is var read && (read == 0 || Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 408", StringComparison.Ordinal));
                }
            }
        }
        catch (IOException)
        {
            closed = true;
        }

        Assert.True(closed);
        await AssertStillServes();
    }

    [Fact]
    public async Task An_unmasked_client_frame_closes_the_websocket()
    {
        var (client, stream) = await RawWebSocketAsync();
        using (client)
        {
            await stream.WriteAsync(Frame(0x2, [0x16, 0x03, 0x01], masked: false));
            Assert.True(await ClosedByServerAsync(stream));
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task An_absurd_frame_length_closes_the_websocket()
    {
        var (client, stream) = await RawWebSocketAsync();
        using (client)
        {
            // Payload length 2^63 - 1 (64-bit length form), masked.
            await stream.WriteAsync(new byte[] { 0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4 });
            Assert.True(await ClosedByServerAsync(stream));
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task Reserved_bits_or_an_unknown_opcode_close_the_websocket()
    {
        var (client, stream) = await RawWebSocketAsync();
        using (client)
        {
            var frame = Frame(0x3, [1, 2, 3]); // opcode 3 is reserved
            await stream.WriteAsync(frame);
            Assert.True(await ClosedByServerAsync(stream));
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task A_flood_of_pings_is_answered_without_harm()
    {
        var (client, stream) = await RawWebSocketAsync();
        using (client)
        {
            var ping = Frame(0x9, "x"u8.ToArray());
            for (var i = 0; i < 2000; i++)
            {
                await stream.WriteAsync(ping);
            }

            // The server answers with pongs (opcode 10); read until we have seen some.
            var buffer = new byte[4096];
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(read > 0 && (buffer[0] & 0x0F) == 0xA, "no pong came back");
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task A_handshake_split_into_one_byte_fragments_still_works()
    {
        // Message boundaries mean nothing: TLS records arrive split across continuation frames.
        using var webSocket = new ClientWebSocket();
        await webSocket.ConnectAsync(_gateway.WebSocketUri, CancellationToken.None);
        await using var tls = new SslStream(new OneByteFragments(webSocket));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = GatewayHarness.Host("echo"),
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, c, _, e) => CertificateVerifier.Verify(c as System.Security.Cryptography.X509Certificates.X509Certificate2, e, _gateway.Pki.TrustedCas) is null,
        });
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /fragmented HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\nConnection: close\r\n\r\n"));
        var response = await ReadAllAsync(tls);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Contains("/fragmented", response, StringComparison.Ordinal);
    }

    private async Task<string> InnerRawAsync(string request, string? sni = null)
    {
        await using var connection = await EdgeClient.ConnectAsync(_gateway.EdgeOptions with
        {
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            SkipVerification = sni is not null,
        }, sni ?? GatewayHarness.Host("echo"), CancellationToken.None);
        await connection.Stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await ReadAllAsync(connection.Stream);
    }

    /// <summary>Everything the server sends until it closes (or 10 s pass).</summary>
    private static async Task<string> ReadAllAsync(Stream stream)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The server closed the WebSocket (the client's stream then refuses further reads) or went quiet.
        }

        return text.ToString();
    }

    [Fact]
    public async Task Garbage_inside_tls_gets_400()
    {
        var answer = await InnerRawAsync("\u0001\u0002 this is not http\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.Requests);
        await AssertStillServes();
    }

    [Fact]
    public async Task An_oversized_inner_header_block_gets_431()
    {
        var answer = await InnerRawAsync($"GET / HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\nX-Big: {new string('b', 20_000)}\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431", answer, StringComparison.Ordinal);
        await AssertStillServes();
    }

    [Fact]
    public async Task Content_length_with_transfer_encoding_cannot_smuggle_a_second_request()
    {
        // RFC 9112 6.3: chunked wins, and the connection is closed after the response, so whatever follows
        // (here a second request hidden in the "body" by the Content-Length reading) is never processed.
        var host = GatewayHarness.Host("echo");
        var answer = await InnerRawAsync($"POST /a HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {host}\r\n\r\n");
        Assert.Matches("^HTTP/1.1 (200|400)", answer);
        Assert.Contains("Connection: close", answer, StringComparison.OrdinalIgnoreCase);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(answer, "HTTP/1.1 [0-9]{3}"));
        Assert.DoesNotContain(_gateway.Logs.Messages, m => m.Contains("path=/smuggled", StringComparison.Ordinal));
        await AssertStillServes();
    }

    [Fact]
    public async Task Duplicate_different_content_lengths_are_refused()
    {
        var answer = await InnerRawAsync($"POST /a HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nbody");
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.Requests);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_slowloris_inside_tls_is_cut_by_the_header_timeout()
    {
        await using var connection = await EdgeClient.ConnectAsync(_gateway.EdgeOptions with { ApplicationProtocols = [SslApplicationProtocol.Http11] }, GatewayHarness.Host("echo"), CancellationToken.None);
        await connection.Stream.WriteAsync("GET / HTTP/1.1\r\n"u8.ToArray());
        var buffer = new byte[1024];
        var read = await connection.Stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(read == 0 || Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 408", StringComparison.Ordinal));
        await AssertStillServes();
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("127.0.0.1:8443")]
    [InlineData("[::1]")]
    public async Task An_ip_literal_host_has_no_route(string host)
    {
        var answer = await InnerRawAsync($"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 502", answer, StringComparison.Ordinal);
        Assert.EndsWith("No route configured for host\n", answer, StringComparison.Ordinal);
        await AssertStillServes();
    }

    [Theory]
    [InlineData("unrelated.example")]
    [InlineData(null)]
    public async Task Routing_follows_the_inner_host_whatever_the_sni(string? sni)
    {
        // Decision 0003 #5/#6: one certificate whatever the SNI; the inner Host routes. (The real edge sends
        // SNI = the route's host; a client that does not would fail its own certificate check.)
        await using var connection = await EdgeClient.ConnectAsync(_gateway.EdgeOptions with
        {
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            SkipVerification = true,
        }, sni ?? "", CancellationToken.None);
        await connection.Stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /sni HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\nConnection: close\r\n\r\n"));
        var answer = await ReadAllAsync(connection.Stream);
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_upstream_response_gets_502()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("garbage")}/x"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_stalled_upstream_gets_504_after_the_idle_timeout()
    {
        using var http = _gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("stall")}/x"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await AssertStillServes();
    }

    [Fact]
    public async Task Method_names_chosen_by_the_client_never_become_metric_labels()
    {
        // Issue 10 #3: thousands of unique 7 KB methods grew RSS and /metrics for good. Labels come from closed sets.
        using var http = _gateway.CreateClient();
        for (var i = 0; i < 40; i++)
        {
            using var request = new HttpRequestMessage(new HttpMethod($"M{i}{new string('X', 1000)}"), new Uri($"https://{GatewayHarness.Host("echo")}/m"));
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using (var teapot = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/status/418")))
        {
            Assert.Equal((HttpStatusCode)418, teapot.StatusCode);
        }

        var series = _gateway.Server.Metrics.RequestsByRoute.ToList();
        Assert.Equal([("echo", "GET", "4xx", 1L), ("echo", "_OTHER", "2xx", 40L)], series.OrderBy(s => s.Method, StringComparer.Ordinal).ToList());
        // What an exporter reads from the gateway's instruments (/metrics itself: MetricsEndpointTests).
        using var reader = new InstrumentReader(_gateway.Server.Metrics.Meter);
        var metrics = string.Join("\n", reader.Snapshot());
        Assert.Contains("mcp_tunnel.requests{method=_OTHER,route=echo,status=2xx} 40", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("XXXX", metrics, StringComparison.Ordinal);
        Assert.True(metrics.Length < 8192, $"the instruments read {metrics.Length} bytes");
    }

    [Theory]
    [InlineData("xn--.abcd1234.tunnel.test")]
    [InlineData("xn--bcher-kva.xn--.abcd1234.tunnel.test")]
    [InlineData("echo.xn--ab-.tunnel.test")]
    public async Task A_punycode_label_that_does_not_decode_gets_400_logged_at_debug(string host)
    {
        // Issue 10 #7: such hosts got 500 and an ERROR line each, so anyone could flood the log at ERROR.
        var answer = await InnerRawAsync($"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        Assert.True(answer.StartsWith("HTTP/1.1 400", StringComparison.Ordinal), string.Join("\n", _gateway.Logs.Lines.Select(l => $"{l.Level} {l.Category} {l.Message} {l.Exception}")));
        Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
        var line = Assert.Single(_gateway.Logs.Lines, l => l.Message.StartsWith("request refused: client error status=400", StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, line.Level);
        Assert.Equal(1, _gateway.Server.Metrics.ClientErrors);
        Assert.Equal(0, _gateway.Server.Metrics.UpstreamErrors);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_punycode_label_that_does_not_decode_gets_400_and_no_log_line_at_the_default_level()
    {
        // At log_level info (the default) these got 500 and an ERROR line with a stack trace per request.
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{_upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.0/8]", logLevel: "info");
        await using var connection = await EdgeClient.ConnectAsync(gateway.EdgeOptions with { ApplicationProtocols = [SslApplicationProtocol.Http11] }, GatewayHarness.Host("echo"), CancellationToken.None);
        await connection.Stream.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: xn--.{TestPki.Domain}\r\nConnection: close\r\n\r\n"));
        var answer = await ReadAllAsync(connection.Stream);
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
        Assert.Equal(1, gateway.Server.Metrics.ClientErrors);
    }

    [Theory]
    [InlineData("xn--bcher-kva.abcd1234.tunnel.test")]
    [InlineData("XN--BCHER-KVA.abcd1234.tunnel.test")]
    public async Task A_punycode_route_key_matches_the_host_as_received(string host)
    {
        // Issue 10 #7: the Host was decoded to Unicode before routing, so this key never matched.
        var answer = await InnerRawAsync($"GET /idn HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        Assert.Contains("\"host\":\"xn--bcher-kva.abcd1234.tunnel.test\"", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_ascii_host_gets_400()
    {
        await using var connection = await EdgeClient.ConnectAsync(_gateway.EdgeOptions with { ApplicationProtocols = [SslApplicationProtocol.Http11] }, GatewayHarness.Host("echo"), CancellationToken.None);
        await connection.Stream.WriteAsync(Encoding.UTF8.GetBytes($"GET / HTTP/1.1\r\nHost: bücher.{TestPki.Domain}\r\nConnection: close\r\n\r\n"));
        var answer = await ReadAllAsync(connection.Stream);
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.UpstreamErrors);
        await AssertStillServes();
    }

    [Fact]
    public async Task A_bad_chunk_size_is_a_client_error_not_an_upstream_failure()
    {
        // Issue 10 #8: this got 502, WARN "upstream request failed" and an upstream-error count.
        var answer = await InnerRawAsync($"POST /chunked HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.UpstreamErrors);
        Assert.Equal(1, _gateway.Server.Metrics.ClientErrors);
        Assert.DoesNotContain(_gateway.Logs.Messages, m => m.StartsWith("upstream request failed", StringComparison.Ordinal));
        Assert.Contains(_gateway.Logs.Lines, l => l.Level == Microsoft.Extensions.Logging.LogLevel.Debug && l.Message.StartsWith("request refused: client error status=400", StringComparison.Ordinal));
        await AssertStillServes();
    }

    [Fact]
    public async Task Connect_on_a_routed_host_gets_501_and_is_not_an_upstream_failure()
    {
        var host = GatewayHarness.Host("echo");
        var answer = await InnerRawAsync($"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 501", answer, StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Server.Metrics.UpstreamErrors);
        Assert.Equal(1, _gateway.Server.Metrics.ClientErrors);
        Assert.DoesNotContain(_gateway.Logs.Messages, m => m.StartsWith("upstream request failed", StringComparison.Ordinal));
        await AssertStillServes();
    }

    [Fact]
    public async Task Headers_a_connection_header_names_are_dropped_in_both_directions()
    {
        using var http = _gateway.CreateClient();
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("echo")}/c"))
        {
            request.Headers.Connection.Add("X-Client-Hop");
            request.Headers.TryAddWithoutValidation("X-Client-Hop", "for the gateway only");
            request.Headers.TryAddWithoutValidation("X-End", "kept");
            using var response = await http.SendAsync(request);
            var headers = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("headers");
            Assert.False(headers.TryGetProperty("x-client-hop", out _));
            Assert.Equal("kept", headers.GetProperty("x-end").GetString());
        }

        using (var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("hop")}/c")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.False(response.Headers.Contains("X-Hop"));
            Assert.True(response.Headers.Contains("X-End"));
        }
    }

    [Fact]
    public async Task A_host_header_cannot_choose_the_name_an_https_upstream_is_checked_against()
    {
        // Issue 10 #2: the Host header was the TLS server name. Here the full-host route "up.internal" points at
        // 127.0.0.1, whose certificate names only up.internal: a Host of "up.internal" must not make the
        // certificate acceptable for 127.0.0.1, and the upstream must not see that name as SNI.
        using var pki = new UpstreamPki();
        using var certificate = pki.Issue("up.internal");
        await using var upstream = await HttpsUpstream.StartAsync(certificate);
        using var caDirectory = new TempDirectory();
        var caFile = caDirectory.Write("upstream-ca.crt", pki.CaPem);
        await using var gateway = await GatewayHarness.StartAsync(
            $"up.internal: https://127.0.0.1:{upstream.Port}",
            $"upstream:\n  allowed_ips: [127.0.0.0/8]\n  tls:\n    ca_file: {caFile}");
        using var http = gateway.CreateClient(verify: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host("x")}/hostile");
        request.Headers.Host = "up.internal";
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.DoesNotContain("up.internal", upstream.ServerNames);
        Assert.Contains(gateway.Logs.Messages, m => m.StartsWith("upstream request failed route=up.internal", StringComparison.Ordinal) && m.Contains("tls handshake with 127.0.0.1", StringComparison.Ordinal));
    }

    public static TheoryData<string> DeepYaml => new()
    {
        "routes: " + new string('[', 100_000),
        "routes: " + string.Concat(Enumerable.Repeat("{a: ", 100_000)),
        "routes:\n" + string.Concat(Enumerable.Repeat("- ", 50_000)) + "x\n",
    };

    [Theory]
    [MemberData(nameof(DeepYaml))]
    public async Task Deeply_nested_yaml_is_refused_with_an_error_instead_of_a_crash(string yaml)
    {
        // Issue 10 #6: 100,000 nested [ crashed config validate (exit 139) and, on SIGHUP, the daemon.
        using var directory = new TempDirectory();
        var path = directory.Write("deep.yaml", yaml);
        var error = new StringWriter();
        Assert.Equal(1, await McpTunnel.Commands.ValidateCommand.RunAsync(path, null, new StringWriter(), error));
        Assert.Contains($"more than {McpTunnel.Configuration.ConfigLoader.MaxNestingDepth} levels deep", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("invalid configuration: 1 error", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_oversized_configuration_is_refused_before_it_is_parsed()
    {
        using var directory = new TempDirectory();
        var path = directory.Write("big.yaml", "listen_addr: \":8080\"\n# " + new string('x', McpTunnel.Configuration.ConfigLoader.MaxFileBytes) + "\n");
        var result = McpTunnel.Configuration.ConfigLoader.LoadFile(path);
        Assert.False(result.Succeeded);
        Assert.Contains("the limit is 1024 KiB", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("bücher", "xn--bcher-kva")]
    [InlineData("Bücher.example", "xn--bcher-kva.example")]
    public void A_non_ascii_route_key_is_refused_with_its_punycode_form(string key, string punycode)
    {
        // Issue 10 #7: accepted by the config, but forwarding failed; the Host a client sends is the punycode form.
        var result = McpTunnel.Configuration.ConfigLoader.Parse($"listen_addr: \":8080\"\ntunnel_domain: example.com\ntls: {{cert_file: a, key_file: b}}\nroutes:\n  {key}: http://10.0.0.5:9000\n", "t.yaml");
        var problem = Assert.Single(result.Errors);
        Assert.Equal(5, problem.Line);
        Assert.Contains("is not ASCII", problem.Message, StringComparison.Ordinal);
        Assert.Contains($"write \"{punycode}\"", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_key_that_is_not_valid_punycode_is_refused()
    {
        var result = McpTunnel.Configuration.ConfigLoader.Parse("listen_addr: \":8080\"\ntunnel_domain: example.com\ntls: {cert_file: a, key_file: b}\nroutes:\n  xn--: http://10.0.0.5:9000\n", "t.yaml");
        Assert.Contains("is not valid punycode", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0b1_111_111_111)] // 1777, like /tmp
    [InlineData(0b0_111_111_111)] // 0777
    [InlineData(0b0_111_111_000)] // 0770: the group can write
    public void Token_set_into_a_directory_others_can_write_is_refused_and_changes_nothing(int mode)
    {
        // Issue 10 #5: token set --out on a 1777 directory made it 0700 and deleted unrelated .*.tmp files.
        using var directory = new TempDirectory();
        var shared = Directory.CreateDirectory(directory.File("shared")).FullName;
        File.SetUnixFileMode(shared, (UnixFileMode)mode);
        File.WriteAllText(Path.Combine(shared, ".someone.else.tmp"), "not ours");
        File.WriteAllText(Path.Combine(shared, ".tunnel-token.4242.0123456789abcdef0123456789abcdef.tmp"), "not ours either");
        var error = new StringWriter();

        var code = McpTunnel.Commands.Token.TokenSetCommand.Set(shared, new StringReader(McpTunnel.Tests.Connector.CloudflaredSupervisorTests.NewToken()), new StringWriter(), error);

        Assert.Equal(1, code);
        Assert.Contains($"is mode {Convert.ToString(mode, 8).PadLeft(4, '0')}", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("nothing was written", error.ToString(), StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)mode, File.GetUnixFileMode(shared));
        Assert.Equal([".someone.else.tmp", ".tunnel-token.4242.0123456789abcdef0123456789abcdef.tmp"], Directory.EnumerateFiles(shared).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Cert_init_into_an_existing_0755_directory_keeps_its_mode()
    {
        // Issue 10 #5: cert init made an existing 0755 directory 0700 without a word.
        using var directory = new TempDirectory();
        var existing = Directory.CreateDirectory(directory.File("certs")).FullName;
        File.SetUnixFileMode(existing, (UnixFileMode)0b111_101_101);

        var code = McpTunnel.Commands.Cli.Build().Parse(["cert", "init", "--domain", TestPki.Domain, "--output", existing]).Invoke();

        Assert.Equal(0, code);
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(existing));
        Assert.All(Directory.EnumerateFiles(existing), f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
    }

    [Fact]
    public void Renewal_into_a_directory_others_can_write_is_refused()
    {
        using var directory = new TempDirectory();
        var data = new McpTunnel.Credentials.DataDirectory(directory.File("data"));
        data.Ensure();
        var pki = new TestPki();
        data.Write("ca.crt", pki.Ca.CertificatePem);
        data.Write("ca.key", pki.Ca.PrivateKeyPem);
        data.WriteValue("tunnel-domain", TestPki.Domain);
        File.SetUnixFileMode(data.Path, (UnixFileMode)0b111_111_111);

        var error = Assert.Throws<McpTunnel.Credentials.CredentialsException>(() => new McpTunnel.Credentials.CertificateRenewal().Renew(data, TimeSpan.FromDays(30), TimeSpan.Zero));

        Assert.Contains("is mode 0777: anyone can create or replace files in it", error.Message, StringComparison.Ordinal);
        Assert.False(data.Exists("tls.crt"));
    }

    [Fact]
    public void Token_set_stops_reading_an_endless_input()
    {
        // `token set < /dev/zero` read until memory ran out. The reader here refuses to go far past any token.
        using var directory = new TempDirectory();
        var error = new StringWriter();

        var code = McpTunnel.Commands.Token.TokenSetCommand.Set(directory.File("data"), new EndlessReader(), new StringWriter(), error);

        Assert.Equal(2, code);
        Assert.Contains("the input is longer than 64 KiB", error.ToString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(directory.File("data")));
    }

    /// <summary>Standard input that never ends (as /dev/zero); fails the test if read past 1 MiB.</summary>
    private sealed class EndlessReader : TextReader
    {
        private long _served;

        public override int Read(char[] buffer, int index, int count)
        {
            Assert.True(_served < 1024 * 1024, "read past 1 MiB of an endless input");
            Array.Fill(buffer, 'A', index, count);
            _served += count;
            return count;
        }

        public override int Read() => Read(new char[1], 0, 1) > 0 ? 'A' : -1;
    }

    /// <summary>Everything the server sends on a raw socket until it closes (EOF or reset), with a hang limit.</summary>
    private static async Task<byte[]> ReadToCloseAsync(NetworkStream stream)
    {
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                answer.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // A reset after the close frame: what arrived before it is the answer.
        }

        return answer.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_text_message_closes_the_websocket_with_1003(bool afterAnEmptyBinaryFrame)
    {
        // Decision 0003, question 2: TLS travels in binary messages only. A text message is refused with 1003
        // (unsupported data) as soon as its header arrives, never read into the stream and never judged as UTF-8
        // (which would give 1007). After an empty binary frame the next read starts the text message: same answer.
        var (client, stream) = await RawWebSocketAsync();
        using (client)
        {
            if (afterAnEmptyBinaryFrame)
            {
                await stream.WriteAsync(Frame(0x2, []));
            }

            await stream.WriteAsync(Frame(0x1, [0x16, 0x03, 0x01, 0x00, 0x05, 0xC3]));
            var frames = ServerFrame.ParseAll(await ReadToCloseAsync(stream), out _);
            var close = Assert.Single(frames, f => f.Opcode == 0x8);
            Assert.Equal(1003, close.CloseCode);
            Assert.DoesNotContain(frames, f => f.Opcode == 0x2);
        }

        await _gateway.Logs.WaitForAsync("websocket text message refused: the tunnel carries TLS in binary messages only; closed with 1003");
        // The inner handshake it cut short is not reported as a TLS failure as well.
        Assert.DoesNotContain(_gateway.Logs.Messages, m => m.StartsWith("tls handshake failed", StringComparison.Ordinal));
        await AssertStillServes();
    }

    [Fact]
    public async Task A_flood_of_websockets_that_never_start_tls_gets_one_handshake_line_per_interval_not_one_each()
    {
        // tls_handshake_timeout is 2s here (real time); the line throttle runs on the harness's fake clock.
        const int count = 20;
        var clients = new List<TcpClient>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                clients.Add((await RawWebSocketAsync()).Client);
            }

            await Eventually.WaitAsync(() => _gateway.Server.Metrics.TlsHandshakeFailures == count, () => $"{_gateway.Server.Metrics.TlsHandshakeFailures} handshake failures");
            var line = Assert.Single(_gateway.Logs.Messages, m => m.StartsWith("tls handshake failed", StringComparison.Ordinal));
            Assert.Equal("tls handshake failed: handshake timed out (the client sent nothing, or too slowly)", line);

            // The next one after the interval says how many were held back.
            _gateway.Time.Advance(TimeSpan.FromSeconds(10));
            clients.Add((await RawWebSocketAsync()).Client);
            await Eventually.WaitAsync(() => _gateway.Server.Metrics.TlsHandshakeFailures == count + 1, () => $"{_gateway.Server.Metrics.TlsHandshakeFailures} handshake failures");
            await _gateway.Logs.WaitForAsync($"tls handshake failed: handshake timed out (the client sent nothing, or too slowly) suppressed={count - 1}");
            Assert.Equal([("timeout", count + 1L)], _gateway.Server.Metrics.TlsHandshakeFailuresByReason);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        await AssertStillServes();
    }

    [Fact]
    public async Task A_connection_that_never_sends_a_byte_is_closed_at_the_upgrade_timeout()
    {
        // Before, Kestrel's keep-alive timeout (5 minutes) applied until a first request; now appliance.upgrade_timeout.
        // (One that trickles its headers is cut sooner, by request_headers_timeout: the slowloris case above.)
        using var silent = new TcpClient();
        await silent.ConnectAsync(IPAddress.Loopback, _gateway.HttpUri.Port);
        await Eventually.WaitAsync(() => _gateway.Server.Metrics.OpenConnections == 1, () => $"{_gateway.Server.Metrics.OpenConnections} connections");

        _gateway.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Empty(await ReadToCloseAsync(silent.GetStream()));
        Assert.Equal(1, _gateway.Server.Metrics.Shed(ShedReason.UpgradeTimeout));
        await _gateway.Logs.WaitForAsync("closed connections that did not complete a WebSocket upgrade in time timeout=10s closed=1");
        await AssertStillServes();
    }

    [Fact]
    public async Task A_session_that_completes_tls_but_sends_no_request_is_closed_at_the_first_request_timeout()
    {
        await using var idle = await EdgeClient.ConnectAsync(_gateway.EdgeOptions with { ApplicationProtocols = [SslApplicationProtocol.Http11] }, GatewayHarness.Host("echo"), CancellationToken.None);
        using var busy = _gateway.CreateClient();
        using (var first = await busy.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/first")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        _gateway.Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal("", await ReadAllAsync(idle.Stream));
        Assert.Equal(1, _gateway.Server.Metrics.Shed(ShedReason.FirstRequestTimeout));
        await _gateway.Logs.WaitForAsync("closed tunnel sessions that did not complete inner TLS and a first request in time timeout=20s closed=1");

        // The session that had its first request keeps its connection: the next request reuses it.
        using var again = await busy.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/second"));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(2, _gateway.Server.Metrics.WebSocketsTotal);
    }

    [Fact]
    public async Task A_websocket_beyond_max_sessions_gets_503_while_every_session_is_busy_and_an_idle_one_makes_room()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}",
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  max_connections: 8\n  max_sessions: 2");
        var sse = new Uri($"https://{GatewayHarness.Host("echo")}/sse");
        using var first = gateway.CreateClient();
        using var second = gateway.CreateClient();
        using var one = await first.GetAsync(sse, HttpCompletionOption.ResponseHeadersRead);
        using var two = await second.GetAsync(sse, HttpCompletionOption.ResponseHeadersRead);

        // Both sessions have a request in flight: a third WebSocket is refused, not a busy session closed.
        var answer = await RawOuterAsync(gateway.HttpUri.Port, Upgrade(gateway.HttpUri.Port, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
        Assert.StartsWith("HTTP/1.1 503", answer, StringComparison.Ordinal);
        Assert.Contains("Retry-After: 5", answer, StringComparison.Ordinal);
        Assert.EndsWith("mcp-tunnel has reached appliance.max_sessions and every tunnel session is busy; try again later.\n", answer, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Server.Metrics.Refused(RefusalReason.SessionLimit));
        Assert.Contains("tunnel session limit reached and every session is busy; refused new WebSockets with 503 limit=2 refused=1", gateway.Logs.Messages);

        // Once the requests are done the sessions are idle; the next WebSocket closes the oldest of them.
        upstream.SseGate.TrySetResult();
        Assert.Contains("data: two", await one.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("data: two", await two.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var third = gateway.CreateClient();
        using var response = await third.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/third"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, gateway.Server.Metrics.Shed(ShedReason.SessionLimit));
        Assert.Contains("tunnel session limit reached; closed the oldest idle sessions, to admit new ones limit=2 closed=1", gateway.Logs.Messages);
    }

    /// <summary>A stream over a WebSocket that sends every byte as its own continuation fragment.</summary>
    private sealed class OneByteFragments(WebSocket webSocket) : InterceptingStream(WebSocketStream.Create(webSocket, WebSocketMessageType.Binary))
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            for (var i = 0; i < buffer.Length; i++)
            {
                await webSocket.SendAsync(buffer.Slice(i, 1), WebSocketMessageType.Binary, endOfMessage: i == buffer.Length - 1, cancellationToken);
            }
        }
    }
}
