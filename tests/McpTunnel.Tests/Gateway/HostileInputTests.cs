using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
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
        _gateway = await GatewayHarness.StartAsync(
            $"""
            echo: http://127.0.0.1:{_upstream.Port}
            garbage: http://127.0.0.1:{((IPEndPoint)_garbage.LocalEndpoint).Port}
            stall: http://127.0.0.1:{((IPEndPoint)_staller.LocalEndpoint).Port}
            """,
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  request_headers_timeout: 1s\n  upstream_idle_timeout: 1s\n  tls_handshake_timeout: 2s\n  max_request_headers_bytes: 8192");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _garbage.Stop();
        _staller.Stop();
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
    private async Task<string> RawOuterAsync(byte[] request, int readLimit = 65536)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _gateway.HttpUri.Port);
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

    private byte[] Upgrade(string extraHeaders) => Encoding.ASCII.GetBytes(
        $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{_gateway.HttpUri.Port}\r\n{extraHeaders}\r\n");

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
