using System.Net;
using System.Net.Sockets;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

public sealed class ConnectTimeoutTests
{
    [Fact]
    public async Task An_upstream_that_never_completes_the_tcp_handshake_gets_504()
    {
        // A listener that never accepts, with its accept queue filled: Linux then drops further SYNs, so a
        // connect neither succeeds nor is refused, exactly like a black-holed upstream.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(filler);
                using var attempt = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
                try
                {
                    await filler.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), attempt.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // the queue is full: this connect hangs, which is the state the test needs
                }
            }

            await using var gateway = await GatewayHarness.StartAsync(
                $"slow: http://127.0.0.1:{port}",
                "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  upstream_connect_timeout: 1s");
            using var http = gateway.CreateClient();
            using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("slow")}/mcp"));

            Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
            var line = await gateway.Logs.WaitForAsync("upstream request failed route=slow");
            Assert.Contains("status=504", line.Message, StringComparison.Ordinal);
            Assert.Contains("i/o timeout", line.Message, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }
        }
    }
}
