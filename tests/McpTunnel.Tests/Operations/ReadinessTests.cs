using System.Globalization;
using McpTunnel.Connector;
using McpTunnel.Gateway;
using McpTunnel.Operations.Health;
using McpTunnel.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Operations;

/// <summary>
/// <c>/readyz</c> as docs/operations.md describes it: 200 when the configuration is loaded, the certificate is valid
/// and cloudflared is connected, otherwise 503 with one line naming what is not. One test per reason, through the
/// endpoint's request handler; the gateway is a real one on loopback, the clock a fake one, no process is started.
/// </summary>
public sealed class ReadinessTests
{
    private static async Task<(int Status, string Body)> GetAsync(HealthEndpoint health, IGatewayStatus gateway, string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        using var body = new MemoryStream();
        context.Response.Body = body;
        await health.HandleAsync(context, gateway);
        return (context.Response.StatusCode, System.Text.Encoding.UTF8.GetString(body.ToArray()));
    }

    /// <summary>A supervisor that was never started: what <c>run</c> has before cloudflared registers its connections.</summary>
    private static CloudflaredSupervisor NotConnected(TempDirectory directory) => new(new CloudflaredOptions
    {
        Binary = directory.File("cloudflared"),
        GatewayUrl = new Uri("http://127.0.0.1:8080"),
        MetricsAddress = new McpTunnel.Configuration.CloudflaredConfig().MetricsAddr.ToString(),
        GracePeriod = new McpTunnel.Configuration.CloudflaredConfig().GracePeriod,
        KillMargin = McpTunnel.Configuration.StopBudget.CloudflaredKillMargin,
        ConfigFile = directory.File("cloudflared.yml"),
        WriteSecretFile = McpTunnel.Credentials.AtomicFile.Write,
        Token = new TokenSource(directory.File("tunnel-token"), "test token file"),
    }, NullLogger.Instance);

    [Fact]
    public async Task Ready_when_the_configuration_is_loaded_the_certificate_valid_and_cloudflared_not_supervised_here()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");

        var (status, body) = await GetAsync(new HealthEndpoint(null, TimeProvider.System), gateway.Server, "/readyz");

        Assert.True(status == StatusCodes.Status200OK, body);
        Assert.Equal("config: ok\nroutes: 1 configured\n" +
            string.Create(CultureInfo.InvariantCulture, $"certificate: ok, valid until {gateway.Server.Certificates.Current.NotAfter:yyyy-MM-ddTHH:mm:ssZ}\n") +
            "cloudflared: not supervised here (--no-connector)\n", body);
    }

    [Fact]
    public async Task The_health_listener_answers_readyz_with_the_status_of_the_gateway_that_hosts_it()
    {
        // There is no "configuration not loaded" state any more: the gateway that loaded it hosts the health
        // listener and hands its own status to the handler with each request (IGatewayStatus).
        int port;
        using (var free = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            free.Start();
            port = ((System.Net.IPEndPoint)free.LocalEndpoint).Port;
        }

        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000", $"appliance:\n  health_addr: \"127.0.0.1:{port}\"",
            health: new HealthEndpoint(null, TimeProvider.System));
        using var http = new System.Net.Http.HttpClient();
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("config: ok\nroutes: 1 configured\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Not_ready_when_the_served_certificate_has_expired_and_the_line_says_to_renew_it()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");
        var notAfter = gateway.Server.Certificates.Current.NotAfter;
        var clock = new FakeTimeProvider(notAfter - TimeSpan.FromMinutes(1));
        var health = new HealthEndpoint(null, clock);
        Assert.Equal(StatusCodes.Status200OK, (await GetAsync(health, gateway.Server, "/readyz")).Status);

        clock.Advance(TimeSpan.FromMinutes(2));
        var (status, body) = await GetAsync(health, gateway.Server, "/readyz");

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, status);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"certificate: EXPIRED at {notAfter:yyyy-MM-ddTHH:mm:ssZ}; run mcp-tunnel setup renew-cert\n"), body, StringComparison.Ordinal);
        // Only the certificate is wrong: the other lines still say ok.
        Assert.Contains("config: ok\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Not_ready_while_cloudflared_is_not_connected_and_the_line_carries_its_status()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");
        using var directory = new TempDirectory();
        using var connector = NotConnected(directory);

        var (status, body) = await GetAsync(new HealthEndpoint(connector, TimeProvider.System), gateway.Server, "/readyz");

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, status);
        Assert.Contains($"cloudflared: NOT READY, {connector.Status}\n", body, StringComparison.Ordinal);
        Assert.Contains("certificate: ok", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_route_is_a_warning_on_readyz_not_a_reason_to_be_unready()
    {
        await using var gateway = await GatewayHarness.StartAsync("");

        var (status, body) = await GetAsync(new HealthEndpoint(null, TimeProvider.System), gateway.Server, "/readyz");

        Assert.Equal(StatusCodes.Status200OK, status);
        Assert.Contains("routes: NONE configured; every request gets 502 No route configured for host; add routes to the config and reload\n", body, StringComparison.Ordinal);
    }
}
