using System.Diagnostics;
using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// ASP.NET Core's hosting layer creates an Activity per request whenever its diagnostics logger is enabled, even
/// only at Critical: never exported, but allocated on every request and, as the current activity, the trigger for
/// more (HttpClient starts one per upstream request under any current activity). The gateway keeps that logger off.
/// </summary>
public sealed class HostingActivityTests
{
    private const string HostingDiagnostics = "Microsoft.AspNetCore.Hosting.Diagnostics";

    [Theory]
    [InlineData(LogLevelSetting.Debug)]
    [InlineData(LogLevelSetting.Error)]
    public void The_hosting_diagnostics_logger_is_off_at_every_level(LogLevelSetting setting)
    {
        var filter = new LogLevelFilter(setting);
        foreach (var level in new[] { LogLevel.Trace, LogLevel.Debug, LogLevel.Information, LogLevel.Warning, LogLevel.Error, LogLevel.Critical })
        {
            Assert.False(filter.Allows(HostingDiagnostics, level), $"{HostingDiagnostics} at {level}");
        }

        // The rest of the framework keeps its warnings.
        Assert.True(filter.Allows("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Critical));
    }

    [Fact]
    public async Task A_request_through_the_tunnel_creates_no_hosting_activity()
    {
        // Activities made with `new Activity(name)` (the hosting layer's, when no ActivitySource listener asks for one)
        // belong to the unnamed source; a listener on that source alone sees them without making anyone create more.
        var hosting = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name.Length == 0,
            ActivityStarted = activity =>
            {
                if (activity.OperationName == "Microsoft.AspNetCore.Hosting.HttpRequestIn")
                {
                    Interlocked.Increment(ref hosting);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.0/8]\n", logLevel: "debug");
        using var http = gateway.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/mcp"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // Every ASP.NET Core host in this process counts here: the gateways of other test classes (run in parallel)
        // have the same filter, and the test servers log nothing (LoopbackApp), so any hosting activity is a gateway's.
        Assert.Equal(0, Volatile.Read(ref hosting));
    }
}
