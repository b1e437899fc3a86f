using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>Graceful shutdown: stop accepting, drain in-flight work up to shutdown_timeout, then close.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task An_in_flight_stream_finishes_during_shutdown_and_new_connections_are_refused()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.1]");
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/sse"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("event: first", await reader.ReadLineAsync());

        var stopping = gateway.Server.StopAsync();
        await gateway.Logs.WaitForAsync("gateway stopping");

        // New WebSockets are refused while the old one drains.
        using (var refused = gateway.CreateClient())
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => refused.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/new")));
        }

        Assert.False(stopping.IsCompleted);
        upstream.SseGate.TrySetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains("data: two", rest, StringComparison.Ordinal);
        await stopping.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains("gateway stopped", gateway.Logs.Messages);
    }

    [Fact]
    public async Task A_stream_that_never_ends_is_cut_at_shutdown_timeout()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        var pki = new TestPki();
        await using var gateway = await GatewayHarness.StartAsync(
            $"echo: http://127.0.0.1:{upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.1]", pki);
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/hang"), HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStreamAsync();
        await upstream.HangStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));

        // The harness configures shutdown_timeout: 5s; the stream holds the drain until then.
        await gateway.Server.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var buffer = new byte[64];
            while (await body.ReadAsync(buffer) > 0)
            {
            }

            throw new EndOfStreamException("the stream ended");
        });
        await upstream.HangAborted.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }
}
