using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Upstream;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Gateway;

/// <summary>The SSRF defence: resolved IPv4 addresses checked against allowed_ips before any dial.</summary>
public sealed class IpPolicyTests
{
    private static UpstreamIpPolicy Policy(string? allowed = null, bool disabled = false) => new(new UpstreamConfig
    {
        AllowedIps = allowed is null ? Ipv4Cidr.Rfc1918 : [.. allowed.Split(',').Select(Ipv4Cidr.Parse)],
        AllowedIpsConfigured = allowed is not null,
        DisableIpValidation = disabled,
    });

    [Theory]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.10.10", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("8.8.8.8", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("::1", false)]
    [InlineData("fd00::1", false)]
    public void The_default_allows_rfc1918_ipv4_only(string address, bool allowed) =>
        Assert.Equal(allowed, Policy().IsAllowed(IPAddress.Parse(address)));

    [Fact]
    public void A_configured_list_replaces_the_default()
    {
        var policy = Policy("127.0.0.0/8,100.64.12.0/22");
        Assert.True(policy.IsAllowed(IPAddress.Parse("127.0.0.1")));
        Assert.True(policy.IsAllowed(IPAddress.Parse("100.64.15.255")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("100.64.16.0")));
        Assert.False(policy.IsAllowed(IPAddress.Parse("10.0.0.1")));
        Assert.Equal("127.0.0.0/8", policy.MatchingRule(IPAddress.Parse("127.0.0.9")));
    }

    [Fact]
    public void Disabled_validation_allows_everything() =>
        Assert.True(Policy(disabled: true).IsAllowed(IPAddress.Parse("8.8.8.8")));

    [Fact]
    public async Task A_name_resolving_to_any_disallowed_address_is_rejected_before_any_dial()
    {
        var logs = new CapturingLoggerProvider();
        var dials = new System.Collections.Concurrent.ConcurrentQueue<IPEndPoint>();
        var metrics = new GatewayMetrics();
        var connector = new UpstreamConnector(Policy("127.0.0.0/8"), TimeSpan.FromSeconds(5), metrics, logs.CreateLogger("test"),
            (_, _) => Task.FromResult(new[] { IPAddress.Parse("127.0.0.1"), IPAddress.Parse("203.0.113.9") }),
            dial: (endpoint, cancellationToken) =>
            {
                dials.Enqueue(endpoint);
                return UpstreamConnector.DialSocketAsync(endpoint, cancellationToken);
            });

        var error = await Assert.ThrowsAsync<UpstreamIpRejectedException>(() => connector.ConnectAsync("mixed.example", 9, CancellationToken.None).AsTask());
        Assert.Equal(IPAddress.Parse("203.0.113.9"), error.Address);
        // Not even the allowed first address was dialled: the whole name is refused before any connect.
        Assert.Empty(dials);
        Assert.Contains(logs.Messages, m => m.StartsWith("IP validation failed: 203.0.113.9 is not a private address", StringComparison.Ordinal));
        Assert.Equal(1, metrics.IpRejections);
    }

    [Fact]
    public async Task A_name_without_ipv4_addresses_fails_with_a_clear_error()
    {
        var connector = new UpstreamConnector(Policy(), TimeSpan.FromSeconds(5), new GatewayMetrics(), new CapturingLoggerProvider().CreateLogger("t"),
            (_, _) => Task.FromResult(Array.Empty<IPAddress>()));
        var error = await Assert.ThrowsAsync<UpstreamDialException>(() => connector.ConnectAsync("v6only.example", 9, CancellationToken.None).AsTask());
        Assert.Contains("no IPv4 address", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// DNS rebinding: the name answers an allowed address first and a disallowed one afterwards. The connector looks the
    /// name up once and the socket connects to the address that was checked (UpstreamConnector, remark 3); a second lookup
    /// for the connect would land on the trap listening at the disallowed address.
    /// </summary>
    [Fact]
    public async Task A_rebinding_name_is_dialled_at_the_address_that_was_checked()
    {
        using var allowed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        allowed.Start();
        var port = ((IPEndPoint)allowed.LocalEndpoint).Port;
        var disallowed = IPAddress.Parse("127.0.0.2");
        using var trap = new System.Net.Sockets.TcpListener(disallowed, port);
        trap.Start();
        var answers = new[] { IPAddress.Loopback, disallowed };
        var resolutions = 0;
        var connector = new UpstreamConnector(Policy("127.0.0.1/32"), TimeSpan.FromSeconds(5), new GatewayMetrics(), new CapturingLoggerProvider().CreateLogger("t"),
            (_, _) => Task.FromResult(new[] { answers[Math.Min(Interlocked.Increment(ref resolutions) - 1, 1)] }));

        await using var stream = await connector.ConnectAsync("rebinding.internal", port, CancellationToken.None);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), ((System.Net.Sockets.NetworkStream)stream).Socket.RemoteEndPoint);
        // Bounded: a connector that dialled the trap would leave this accept waiting for ever.
        using var accepted = await allowed.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, resolutions);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), accepted.Client.LocalEndPoint);
    }

    /// <summary>The reverse order: the first answer is the disallowed one, so the request is refused, with no retry of the lookup and no dial.</summary>
    [Fact]
    public async Task A_rebinding_name_whose_checked_answer_is_disallowed_is_refused_without_a_dial()
    {
        var answers = new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Loopback };
        var resolutions = 0;
        var dials = 0;
        var connector = new UpstreamConnector(Policy("127.0.0.1/32"), TimeSpan.FromSeconds(5), new GatewayMetrics(), new CapturingLoggerProvider().CreateLogger("t"),
            (_, _) => Task.FromResult(new[] { answers[Math.Min(Interlocked.Increment(ref resolutions) - 1, 1)] }),
            dial: (endpoint, cancellationToken) =>
            {
                Interlocked.Increment(ref dials);
                return UpstreamConnector.DialSocketAsync(endpoint, cancellationToken);
            });

        var error = await Assert.ThrowsAsync<UpstreamIpRejectedException>(() => connector.ConnectAsync("rebinding.internal", 9, CancellationToken.None).AsTask());

        Assert.Equal(IPAddress.Parse("127.0.0.2"), error.Address);
        Assert.Equal(1, resolutions);
        Assert.Equal(0, dials);
    }

    [Fact]
    public async Task Loopback_is_rejected_by_the_default_policy_end_to_end()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync(
            $"""
            literal: http://127.0.0.1:{upstream.Port}
            named: http://localhost:{upstream.Port}
            """);
        using var http = gateway.CreateClient();
        foreach (var route in new[] { "literal", "named" })
        {
            using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host(route)}/mcp"));
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        Assert.Equal(2, gateway.Logs.Messages.Count(m => m.StartsWith("IP validation failed: 127.0.0.1 is not a private address", StringComparison.Ordinal)));
        Assert.Equal(2, gateway.Server.Metrics.IpRejections);
    }

    [Fact]
    public async Task A_policy_refusal_is_a_502_that_says_so_and_one_warning_line()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"refused: http://127.0.0.1:{upstream.Port}", logLevel: "info");
        using var http = gateway.CreateClient();
        using var refused = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("refused")}/mcp"));
        using var unknown = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("nosuchroute")}/mcp"));

        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Equal(HttpStatusCode.BadGateway, unknown.StatusCode);
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Contains("IP policy (upstream.allowed_ips)", body, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", body, StringComparison.Ordinal); // the address goes to the log, not to the caller
        Assert.Equal("No route configured for host\n", await unknown.Content.ReadAsStringAsync());

        // One line per event, ours: the policy's own line, not also a forwarder warning or a second line of ours.
        await gateway.Logs.WaitForAsync("request finished route=refused");
        var warnings = gateway.Logs.Lines.Where(l => l.Level >= LogLevel.Warning).ToList();
        Assert.True(warnings.Count == 2, string.Join("\n", warnings.Select(w => $"{w.Level} {w.Category}: {w.Message}")));
        Assert.StartsWith("IP validation failed: 127.0.0.1 is not a private address", warnings[0].Message, StringComparison.Ordinal);
        Assert.StartsWith("no route for host", warnings[1].Message, StringComparison.Ordinal);
    }
}
