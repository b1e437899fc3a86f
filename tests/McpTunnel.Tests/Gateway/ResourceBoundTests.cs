using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// 2,000 half-open connections (1,000 stuck in their HTTP headers, 1,000 WebSockets that never start TLS) are
/// shed by the header and handshake timeouts; descriptors return to where they were and memory stays within a
/// documented bound (docs/operations.md: under 256 MB of growth while they are held).
/// </summary>
[Collection(Isolated.Name)]
public sealed class ResourceBoundTests
{
    private const int PerKind = 1000;
    private const long GrowthBoundBytes = 256L * 1024 * 1024;

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }

    [Fact]
    public async Task Two_thousand_half_open_connections_are_shed_without_leaking_descriptors()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}",
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  request_headers_timeout: 2s\n  tls_handshake_timeout: 2s");
        using (var warm = gateway.CreateClient())
        using (await warm.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/warm")))
        {
        }

        // Not a wait for an outcome: the baseline is taken once the warm-up's sockets have closed; if one is still
        // closing it only makes the baseline higher, i.e. the leak check below more lenient, never flaky.
        await Task.Delay(500);
        var fdsBefore = OpenDescriptors();
        var rssBefore = Rss();
        var port = gateway.HttpUri.Port;
        var clients = new List<TcpClient>(PerKind * 2);
        try
        {
            var upgrade = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
            for (var i = 0; i < PerKind * 2; i++)
            {
                var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                // Half of them stop in the middle of their headers; the other half upgrade and then say nothing.
                await client.GetStream().WriteAsync(i % 2 == 0 ? "GET / HTTP/1.1\r\nHost: x\r\n"u8.ToArray() : upgrade);
                clients.Add(client);
            }

            var rssHeld = Rss();
            Assert.True(rssHeld - rssBefore < GrowthBoundBytes, $"memory grew by {(rssHeld - rssBefore) / 1024 / 1024} MB while holding the connections");

            // Every connection must be closed by the gateway: read until EOF (after the 101 or 408, if any).
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await Parallel.ForEachAsync(clients, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = timeout.Token }, async (client, ct) =>
            {
                var buffer = new byte[512];
                try
                {
                    while (await client.GetStream().ReadAsync(buffer, ct) > 0)
                    {
                    }
                }
                catch (IOException)
                {
                    // Reset counts as closed.
                }
            });
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        // The server's bookkeeping finishes just after the client sees the close; give it a moment.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((gateway.Server.Metrics.ActiveWebSockets > 0 || OpenDescriptors() > fdsBefore + 16) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Equal(PerKind, gateway.Server.Metrics.WebSocketsTotal - 1);
        Assert.True(gateway.Server.Metrics.TlsHandshakeFailures >= PerKind, $"{gateway.Server.Metrics.TlsHandshakeFailures} handshake timeouts");
        Assert.Equal(0, gateway.Server.Metrics.ActiveWebSockets);

        // Descriptors come back (a few are allowed for pooled upstream connections and runtime internals).
        Assert.True(OpenDescriptors() <= fdsBefore + 16, $"{OpenDescriptors() - fdsBefore} descriptors more than before");

        // And the gateway still serves.
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/after"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}

/// <summary>Tests that count the whole process's descriptors and memory run alone, not beside other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Isolated
{
    public const string Name = "isolated";
}
