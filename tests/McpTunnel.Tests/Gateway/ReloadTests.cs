using System.Net;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Gateway;

/// <summary>A reload really reloads (issue 10 #4): the IP policy, the upstream pool and log_level.</summary>
public sealed class ReloadTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await EchoUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    private string Routes => $"echo: http://127.0.0.1:{_upstream.Port}";

    private static async Task<HttpStatusCode> GetAsync(HttpClient http, string path = "/x")
    {
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}{path}"));
        return response.StatusCode;
    }

    [Fact]
    public async Task A_reload_that_narrows_allowed_ips_stops_requests_on_pooled_connections()
    {
        await using var gateway = await GatewayHarness.StartAsync(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]");
        using var before = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.OK, await GetAsync(before)); // a pooled upstream connection now exists
        var oldState = gateway.Server.RoutingStateForTests;

        gateway.Reload(Routes, "upstream:\n  allowed_ips: [10.0.0.0/8]");

        // Neither the WebSocket that used the pooled connection nor a new one may reach 127.0.0.1 any more.
        Assert.Equal(HttpStatusCode.BadGateway, await GetAsync(before));
        using var after = gateway.CreateClient();
        Assert.Equal(HttpStatusCode.BadGateway, await GetAsync(after));
        Assert.Equal(2, gateway.Server.Metrics.IpRejections);
        // No request holds the old state: its pool is closed.
        await oldState.Drained.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task A_request_running_across_a_reload_finishes_on_the_old_pool_which_closes_after_it()
    {
        await using var gateway = await GatewayHarness.StartAsync(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]");
        using var http = gateway.CreateClient();
        using var stream = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/sse"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("event: first", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15)));
        var oldState = gateway.Server.RoutingStateForTests;

        gateway.Reload(Routes, "upstream:\n  allowed_ips: [10.0.0.0/8]");
        Assert.False(oldState.Drained.IsCompleted, "the old pool was closed under a running request");

        _upstream.SseGate.TrySetResult();
        Assert.Contains("data: two", await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15)), StringComparison.Ordinal);
        await oldState.Drained.WaitAsync(TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Raising_log_level_to_debug_on_reload_brings_debug_lines_back()
    {
        await using var gateway = await GatewayHarness.StartAsync(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]", logLevel: "info");
        using (var http = gateway.CreateClient())
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(http));
        }

        await gateway.Logs.WaitForAsync("request finished route=echo");
        Assert.DoesNotContain(gateway.Logs.Lines, l => l.Level == LogLevel.Debug);

        gateway.Reload(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]", logLevel: "debug");
        using (var http = gateway.CreateClient())
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(http, "/after"));
        }

        var line = await gateway.Logs.WaitForAsync("websocket opened");
        Assert.Equal(LogLevel.Debug, line.Level);

        // And back down: warn drops the per-request info lines.
        gateway.Reload(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]", logLevel: "warn");
        using (var http = gateway.CreateClient())
        {
            Assert.Equal(HttpStatusCode.OK, await GetAsync(http, "/quiet"));
        }

        Assert.DoesNotContain(gateway.Logs.Messages, m => m.Contains("path=/quiet", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Appliance_settings_a_reload_cannot_apply_are_reported()
    {
        await using var gateway = await GatewayHarness.StartAsync(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]");

        gateway.Reload(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  request_headers_timeout: 7s\n  websocket_keepalive: 5s");

        Assert.Contains("configuration change needs a restart to apply field=appliance.request_headers_timeout", gateway.Logs.Messages);
        Assert.Contains("configuration change needs a restart to apply field=appliance.websocket_keepalive", gateway.Logs.Messages);
        Assert.Equal(TimeSpan.FromSeconds(30), gateway.Server.Config.Appliance.RequestHeadersTimeout);
    }

    [Fact]
    public async Task A_reload_applies_the_upstream_timeouts_without_a_restart_warning()
    {
        await using var gateway = await GatewayHarness.StartAsync(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]");

        gateway.Reload(Routes, "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  upstream_connect_timeout: 3s\n  upstream_idle_timeout: 1m");

        Assert.DoesNotContain(gateway.Logs.Messages, m => m.StartsWith("configuration change needs a restart", StringComparison.Ordinal));
        Assert.Equal(TimeSpan.FromSeconds(3), gateway.Server.Config.Appliance.UpstreamConnectTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), gateway.Server.RoutingStateForTests.RequestConfig.ActivityTimeout);
    }
}
