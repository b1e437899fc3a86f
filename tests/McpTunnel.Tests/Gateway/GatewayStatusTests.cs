using System.Security.Cryptography.X509Certificates;
using McpTunnel.Configuration;
using McpTunnel.Gateway;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Routing;
using McpTunnel.Operations.Health;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// The read-only status the gateway hands to the health listener (<see cref="IGatewayStatus"/>): the running gateway
/// reports what it serves, and the health handler reads nothing else, so it can be driven by a status of its own.
/// </summary>
public sealed class GatewayStatusTests
{
    [Fact]
    public async Task The_running_gateway_reports_its_routes_certificate_and_listener_and_follows_reloads()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");
        var status = gateway.Server;
        using var served = X509Certificate2.CreateFromPem(gateway.Pki.Server.CertificatePem);

        Assert.Equal(["echo"], status.Routes.Routes.Select(r => r.Name));
        Assert.Equal(served.NotAfter.ToUniversalTime(), status.CertificateNotAfter.UtcDateTime);
        Assert.Equal(0, status.CertificateReloads);
        Assert.Equal(gateway.HttpUri, Assert.Single(status.ListenUris));

        gateway.Reload("echo: http://10.0.0.5:9000\nother: http://10.0.0.6:9000");
        Assert.Equal(["echo", "other"], status.Routes.Routes.Select(r => r.Name));

        var renewed = gateway.Pki.NewServerCertificate();
        File.WriteAllText(gateway.Directory.File("tls.crt"), renewed.CertificatePem);
        File.WriteAllText(gateway.Directory.File("tls.key"), renewed.PrivateKeyPem);
        Assert.True(gateway.Server.Certificates.Poll());
        using var next = X509Certificate2.CreateFromPem(renewed.CertificatePem);
        Assert.Equal(1, status.CertificateReloads);
        Assert.Equal(next.NotAfter.ToUniversalTime(), status.CertificateNotAfter.UtcDateTime);
    }

    [Fact]
    public void The_health_handler_reads_the_status_it_is_given_and_nothing_else()
    {
        var now = DateTimeOffset.Parse("2026-11-29T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var health = new HealthEndpoint(null, new Microsoft.Extensions.Time.Testing.FakeTimeProvider(now));
        var expired = new FixedStatus(now.AddSeconds(-1), reloads: 3);

        var (ready, report) = health.Readiness(expired);
        Assert.False(ready, report);
        Assert.Contains("certificate: EXPIRED at 2026-11-29T11:59:59Z", report, StringComparison.Ordinal);
        Assert.Contains("routes: 1 configured\n", report, StringComparison.Ordinal);

        // The certificate's metrics are instruments read from the store itself (MetricsEndpointTests), not from here.

        Assert.True(health.Readiness(new FixedStatus(now.AddDays(1), reloads: 0)).Ready);
    }

    private sealed class FixedStatus(DateTimeOffset notAfter, int reloads) : IGatewayStatus
    {
        public RouteTable Routes { get; } = new(new Dictionary<string, UpstreamTarget> { ["echo"] = new UpstreamTarget("http", "10.0.0.5", 9000) }, TestPki.Domain);

        public DateTimeOffset CertificateNotAfter => notAfter;

        public int CertificateReloads => reloads;

        public GatewayMetrics Metrics { get; } = new();

        public IReadOnlyList<Uri> ListenUris => [];
    }
}
