using System.Net.Sockets;
using System.Text;
using McpTunnel.Hosting;
using McpTunnel.Operations.Health;
using McpTunnel.Run;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Cli;

/// <summary>What systemctl status and /readyz say about the service: the tunnel's state, and what still needs doing.</summary>
public sealed class ServiceStatusTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly Socket _systemd = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    public ServiceStatusTests() => _systemd.Bind(new UnixDomainSocketEndPoint(_directory.File("notify")));

    private string Receive()
    {
        var buffer = new byte[4096];
        _systemd.ReceiveTimeout = 10_000;
        return Encoding.UTF8.GetString(buffer, 0, _systemd.Receive(buffer));
    }

    [Fact]
    public void After_a_reload_the_status_returns_to_the_tunnels_state()
    {
        using var notifier = new SystemdNotifier(_directory.File("notify"));
        var status = new ServiceStatus(notifier, "gateway listening on 127.0.0.1:8080; waiting for cloudflared to connect", () => true);
        status.Ready();
        Assert.Equal("READY=1\nSTATUS=gateway listening on 127.0.0.1:8080; waiting for cloudflared to connect", Receive());
        status.TunnelChanged("connected: cloudflared has registered edge connections");
        Assert.Equal("STATUS=connected: cloudflared has registered edge connections", Receive());

        status.Reloaded(accepted: false);
        Assert.Equal($"READY=1\nSTATUS=connected: cloudflared has registered edge connections; {ServiceStatus.ReloadRejected}", Receive());
        // The warning stays through tunnel changes until a reload succeeds...
        status.TunnelChanged("cloudflared lost its edge connections; it is reconnecting");
        Assert.Equal($"STATUS=cloudflared lost its edge connections; it is reconnecting; {ServiceStatus.ReloadRejected}", Receive());
        status.TunnelChanged("connected: cloudflared has registered edge connections");
        Assert.Equal($"STATUS=connected: cloudflared has registered edge connections; {ServiceStatus.ReloadRejected}", Receive());
        // ...and a successful one leaves the tunnel's state, not "configuration reloaded" for ever.
        status.Reloaded(accepted: true);
        Assert.Equal("READY=1\nSTATUS=connected: cloudflared has registered edge connections", Receive());
    }

    [Fact]
    public void No_routes_is_said_beside_connected()
    {
        var routes = false;
        using var notifier = new SystemdNotifier(_directory.File("notify"));
        var status = new ServiceStatus(notifier, "starting", () => routes);
        status.TunnelChanged("connected: cloudflared has registered edge connections");
        Assert.Equal("STATUS=connected: cloudflared has registered edge connections; no routes configured: every request gets 502 No route configured for host; add routes to the config and reload", Receive());
        routes = true;
        status.Reloaded(accepted: true);
        Assert.Equal("READY=1\nSTATUS=connected: cloudflared has registered edge connections", Receive());
    }

    [Fact]
    public async Task Readyz_warns_when_no_route_is_configured()
    {
        await using (var empty = await GatewayHarness.StartAsync(""))
        {
            var (ready, report) = new HealthEndpoint(null, TimeProvider.System).Readiness(empty.Server);
            Assert.True(ready, report);
            Assert.Contains("routes: NONE configured; every request gets 502 No route configured for host", report, StringComparison.Ordinal);
        }

        await using var one = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");
        Assert.Contains("routes: 1 configured\n", new HealthEndpoint(null, TimeProvider.System).Readiness(one.Server).Report, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _systemd.Dispose();
        _directory.Dispose();
    }
}
