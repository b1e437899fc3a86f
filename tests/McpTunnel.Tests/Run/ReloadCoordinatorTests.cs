using McpTunnel.Configuration;
using McpTunnel.Gateway.Tls;
using McpTunnel.Run;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Serilog.Core;
using Serilog.Events;

namespace McpTunnel.Tests.Run;

/// <summary>
/// SIGHUP's work without a process or a gateway: the file read again, applied or rejected, the log level switched,
/// and systemd told RELOADING=1 (with the monotonic time) then READY=1 with the status left behind.
/// </summary>
public sealed class ReloadCoordinatorTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly RecordingNotifier _notifier = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly LoggingLevelSwitch _levels = new(LogEventLevel.Information);
    private readonly List<GatewayConfig> _applied = [];
    private readonly string _config;
    private Exception? _applyFails;

    public ReloadCoordinatorTests()
    {
        new TestPki().WriteTo(_directory);
        _config = Write("echo: http://127.0.0.1:9");
    }

    private string Write(string routes, string logLevel = "info") => _directory.Write("config.yaml", $"""
        listen_addr: "127.0.0.1:0"
        log_level: {logLevel}
        tunnel_domain: {TestPki.Domain}
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes: {(routes.Length == 0 ? "{}" : "\n  " + routes.Replace("\n", "\n  ", StringComparison.Ordinal))}
        appliance:
          data_dir: {_directory.Path}
        """);

    private ReloadCoordinator Coordinator(ServiceStatus? status = null) => new(_config, null, config =>
    {
        if (_applyFails is not null)
        {
            throw _applyFails;
        }

        _applied.Add(config);
    }, _levels, _notifier, status ?? new ServiceStatus(_notifier, "connected: cloudflared has registered edge connections", () => true), _time, _logs.CreateLogger("McpTunnel.Run"));

    private static long MonotonicUsec(string notification) =>
        long.Parse(notification.Split('\n').Single(l => l.StartsWith("MONOTONIC_USEC=", StringComparison.Ordinal))["MONOTONIC_USEC=".Length..], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public void A_valid_file_is_applied_between_RELOADING_and_READY()
    {
        Write("echo: http://127.0.0.1:9\nsecond: http://127.0.0.1:9", logLevel: "debug");
        Coordinator().Reload();

        var config = Assert.Single(_applied);
        Assert.Equal(["echo", "second"], config.Routes.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(LogEventLevel.Debug, _levels.MinimumLevel);
        Assert.Equal(2, _notifier.All.Count);
        Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", _notifier.All[0], StringComparison.Ordinal);
        Assert.Equal("READY=1\nSTATUS=connected: cloudflared has registered edge connections", _notifier.All[1]);
        Assert.DoesNotContain(_logs.Messages, m => m.Contains("reload rejected", StringComparison.Ordinal));
    }

    [Fact]
    public void RELOADING_carries_the_monotonic_clock_in_microseconds()
    {
        var coordinator = Coordinator();
        coordinator.Reload();
        _time.Advance(TimeSpan.FromSeconds(5));
        coordinator.Reload();
        var reloading = _notifier.All.Where(n => n.StartsWith("RELOADING=1", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, reloading.Count);
        Assert.Equal(5_000_000, MonotonicUsec(reloading[1]) - MonotonicUsec(reloading[0]));
    }

    [Fact]
    public void A_file_with_errors_is_rejected_with_each_error_and_nothing_changes()
    {
        File.WriteAllText(_config, "listen_addr: \":8080\"\nroutes: [broken]\n");
        Coordinator().Reload();

        Assert.Empty(_applied);
        Assert.Equal(LogEventLevel.Information, _levels.MinimumLevel);
        Assert.Contains(_logs.Messages, m => m.StartsWith("reload rejected: ", StringComparison.Ordinal) && m.Contains("routes", StringComparison.Ordinal));
        Assert.Contains("reload rejected; the current configuration stays in force", _logs.Messages);
        Assert.Equal($"READY=1\nSTATUS=connected: cloudflared has registered edge connections; {ServiceStatus.ReloadRejected}", _notifier.All[^1]);
    }

    [Fact]
    public void A_certificate_the_gateway_refuses_rejects_the_reload_and_keeps_the_log_level()
    {
        Write("echo: http://127.0.0.1:9", logLevel: "debug");
        _applyFails = new CertificateLoadException("tls.crt and tls.key are not a pair");
        Coordinator().Reload();

        Assert.Equal(LogEventLevel.Information, _levels.MinimumLevel);
        Assert.Contains("reload rejected: tls.crt and tls.key are not a pair", _logs.Messages);
        Assert.Contains("reload rejected; the current configuration stays in force", _logs.Messages);
        Assert.EndsWith(ServiceStatus.ReloadRejected, _notifier.All[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_later_good_reload_clears_the_rejection_from_the_status()
    {
        var coordinator = Coordinator();
        File.WriteAllText(_config, "routes: [broken]\n");
        coordinator.Reload();
        Assert.EndsWith(ServiceStatus.ReloadRejected, _notifier.All[^1], StringComparison.Ordinal);
        Write("echo: http://127.0.0.1:9");
        coordinator.Reload();
        Assert.Equal("READY=1\nSTATUS=connected: cloudflared has registered edge connections", _notifier.All[^1]);
    }

    [Fact]
    public void A_file_without_routes_is_applied_with_a_warning_naming_it()
    {
        Write("");
        Coordinator().Reload();
        Assert.Single(_applied);
        Assert.Contains($"no routes configured: every request gets 502 No route configured for host; add routes to {_config} and reload", _logs.Messages);
    }

    public void Dispose() => _directory.Dispose();
}
