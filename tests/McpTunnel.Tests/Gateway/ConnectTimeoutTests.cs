using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Upstream;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Gateway;

public sealed class ConnectTimeoutTests
{
    [Fact]
    public async Task An_upstream_that_never_completes_the_tcp_handshake_gets_504()
    {
        using var hole = await BlackHoleListener.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync(
            $"slow: http://127.0.0.1:{hole.Port}",
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  upstream_connect_timeout: 1s");
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("slow")}/mcp"));

        Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout,
            $"got {(int)response.StatusCode}, accept queue {hole.AcceptQueueLength()}; log:\n{string.Join("\n", gateway.Logs.Messages)}");
        Assert.Contains("appliance.upstream_connect_timeout", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var line = await gateway.Logs.WaitForAsync("upstream request failed route=slow");
        Assert.Contains("status=504", line.Message, StringComparison.Ordinal);
        Assert.Contains("i/o timeout", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connect_timeout_is_reported_as_one_even_when_the_callers_deadline_passed_too()
    {
        // On a starved host both timers can have fired by the time the connect gives up: ours (the connect
        // timeout) and the HTTP handler's own, longer one. It is still a connect timeout (504 "i/o timeout"),
        // not a cancellation passed through as something else.
        using var hole = await BlackHoleListener.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var connector = new UpstreamConnector(new UpstreamIpPolicy(new UpstreamConfig { AllowedIps = [Ipv4Cidr.Parse("127.0.0.0/8")], AllowedIpsConfigured = true }),
            TimeSpan.FromSeconds(1), new GatewayMetrics(), new CapturingLoggerProvider().CreateLogger("t"), time: time);
        using var handlerDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);

        var connect = connector.ConnectAsync("127.0.0.1", hole.Port, handlerDeadline.Token).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));

        var error = await Assert.ThrowsAsync<UpstreamConnectTimeoutException>(() => connect.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains($"dial tcp 127.0.0.1:{hole.Port}: i/o timeout", error.Message, StringComparison.Ordinal);
    }
}
