using System.Globalization;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Transport;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Configuration;

/// <summary>
/// The connection limits and deadlines under <c>appliance:</c>, how their defaults follow the descriptor limit, and
/// the stop budget of the packaged unit.
/// </summary>
public sealed class LimitSettingsTests
{
    private static ConfigLoadResult Parse(string yaml) => MinimalConfig.Parse(yaml);

    private static string RepoFile(string relative)
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return Path.Combine(directory.FullName, relative);
            }
        }

        throw new DirectoryNotFoundException("repository root");
    }

    [Fact]
    public void The_limits_are_read_and_default_to_derived_values_and_short_deadlines()
    {
        var defaults = Parse("").Config!.Appliance;
        Assert.Null(defaults.MaxConnections);
        Assert.Null(defaults.MaxSessions);
        Assert.Equal(TimeSpan.FromSeconds(10), defaults.UpgradeTimeout);
        Assert.Equal(TimeSpan.FromSeconds(20), defaults.FirstRequestTimeout);

        var result = Parse("""
            appliance:
              max_connections: 5000
              max_sessions: 1000
              upgrade_timeout: 3s
              first_request_timeout: 1m
            """);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var appliance = result.Config!.Appliance;
        Assert.Equal(5000, appliance.MaxConnections);
        Assert.Equal(1000, appliance.MaxSessions);
        Assert.Equal(TimeSpan.FromSeconds(3), appliance.UpgradeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), appliance.FirstRequestTimeout);
    }

    [Theory]
    [InlineData("max_connections: lots", "appliance.max_connections", "\"lots\" must be a whole number from 2 to 1048576; leave it out to derive it from the descriptor limit (LimitNOFILE)")]
    [InlineData("max_connections: 1", "appliance.max_connections", "\"1\" must be a whole number from 2 to 1048576")]
    [InlineData("max_connections: 2000000", "appliance.max_connections", "\"2000000\" must be a whole number from 2 to 1048576")]
    [InlineData("max_sessions: 0", "appliance.max_sessions", "\"0\" must be a whole number from 1 to 1048576")]
    [InlineData("max_sessions: -3", "appliance.max_sessions", "\"-3\" must be a whole number from 1 to 1048576")]
    [InlineData("upgrade_timeout: 0s", "appliance.upgrade_timeout", "must be greater than zero")]
    [InlineData("first_request_timeout: 20", "appliance.first_request_timeout", "invalid duration \"20\"")]
    public void A_bad_limit_is_an_error_at_its_line_with_the_fix(string line, string field, string message)
    {
        var result = Parse("appliance:\n  " + line + "\n");
        var error = Assert.Single(result.Errors);
        Assert.Equal(field, error.Field);
        Assert.Equal(6, error.Line);
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sessions_must_leave_room_for_connections_that_are_still_upgrading()
    {
        var result = Parse("appliance:\n  max_connections: 100\n  max_sessions: 100\n");
        var error = Assert.Single(result.Errors);
        Assert.Equal("appliance.max_sessions", error.Field);
        Assert.Equal(7, error.Line);
        Assert.Equal("100 must be less than appliance.max_connections (100): connections that have not finished their WebSocket upgrade yet need room beside the sessions", error.Message);
    }

    [Theory]
    [InlineData(16384, 8064, 4032)]
    [InlineData(65536, 32640, 16320)]
    [InlineData(1024, 384, 192)]
    [InlineData(20, 16, 8)]
    public void Unset_limits_follow_the_descriptor_limit(long nofile, int connections, int sessions)
    {
        var limits = ConnectionLimits.Resolve(new ApplianceConfig(), nofile);
        Assert.Equal(connections, limits.MaxConnections);
        Assert.Equal(sessions, limits.MaxSessions);
        // Connections, the sessions' upstream connections and the reserve fit in the descriptor limit.
        Assert.True(nofile < 512 || !limits.ExceedsDescriptors);
    }

    [Fact]
    public void A_configured_limit_wins_and_sessions_stay_below_connections()
    {
        var both = ConnectionLimits.Resolve(new ApplianceConfig { MaxConnections = 100, MaxSessions = 30 }, 16384);
        Assert.Equal((100, 30), (both.MaxConnections, both.MaxSessions));
        var connectionsOnly = ConnectionLimits.Resolve(new ApplianceConfig { MaxConnections = 100 }, 16384);
        Assert.Equal((100, 50), (connectionsOnly.MaxConnections, connectionsOnly.MaxSessions));
        // max_sessions set above the derived max_connections: a quarter of the connections stays for upgrades.
        var sessionsOnly = ConnectionLimits.Resolve(new ApplianceConfig { MaxSessions = 10000 }, 16384);
        Assert.Equal((8064, 6048), (sessionsOnly.MaxConnections, sessionsOnly.MaxSessions));
        // Too large for the descriptors: reported at start.
        Assert.True(ConnectionLimits.Resolve(new ApplianceConfig { MaxConnections = 20000, MaxSessions = 5000 }, 16384).ExceedsDescriptors);
    }

    [Fact]
    public void The_descriptor_limit_is_the_processes_soft_rlimit_nofile()
    {
        // /proc/self/limits: "Max open files            20000                20000                files"
        var line = File.ReadLines("/proc/self/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        Assert.Equal(soft == "unlimited" ? null : long.Parse(soft, CultureInfo.InvariantCulture), ConnectionLimits.CurrentDescriptorLimit());
    }

    [Fact]
    public void The_packaged_unit_gives_a_stop_exactly_the_budget_the_code_checks_against()
    {
        var unit = File.ReadAllLines(RepoFile("packaging/systemd/mcp-tunnel.service"));
        var stop = Assert.Single(unit, l => l.StartsWith("TimeoutStopSec=", StringComparison.Ordinal));
        Assert.True(GoDuration.TryParse(stop["TimeoutStopSec=".Length..], out var seconds), stop);
        Assert.Equal(StopBudget.PackagedTimeoutStopSec, seconds);
    }

    [Fact]
    public void The_packaged_configuration_fits_the_packaged_stop_budget()
    {
        var result = ConfigLoader.Parse(File.ReadAllText(RepoFile("packaging/common/config.yaml")), "config.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.DoesNotContain(result.Warnings, w => w.Field == "shutdown_timeout");
        // Drain 30s, or cloudflared's 25s grace plus 5s; then 5s to close: 35s of the unit's 60s.
        Assert.Equal(TimeSpan.FromSeconds(35), StopBudget.WorstCase(result.Config!));
    }

    [Theory]
    [InlineData("shutdown_timeout: 60s\n", 5, "a stop can take up to 1m5s (the drain of 1m, or cloudflared's grace period 25s plus 5s, then 5s to close)")]
    [InlineData("shutdown_timeout: 58s\nappliance:\n  cloudflared:\n    grace_period: 58s\n", 5, "a stop can take up to 1m8s (the drain of 58s, or cloudflared's grace period 58s plus 5s, then 5s to close)")]
    public void A_shutdown_timeout_that_cannot_fit_the_packaged_unit_is_a_warning_at_its_line(string yaml, int line, string start)
    {
        var result = Parse(yaml);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var warning = Assert.Single(result.Warnings);
        Assert.Equal("shutdown_timeout", warning.Field);
        Assert.Equal(line, warning.Line);
        Assert.True(warning.Message.StartsWith(start, StringComparison.Ordinal), warning.Message);
        Assert.EndsWith("longer than the packaged service unit allows (TimeoutStopSec=60s), so systemd would kill mcp-tunnel in the middle of the drain; " +
            "keep shutdown_timeout at most 55s and appliance.cloudflared.grace_period at most 50s, or give the unit more time in a drop-in (systemctl edit mcp-tunnel: [Service] TimeoutStopSec=...)",
            warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("shutdown_timeout: 55s\n")]
    [InlineData("shutdown_timeout: 55s\nappliance:\n  cloudflared:\n    enabled: false\n")]
    [InlineData("shutdown_timeout: 0s\n")]
    public void A_shutdown_timeout_that_fits_gives_no_warning(string yaml)
    {
        var result = Parse(yaml);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Assert.Empty(result.Warnings);
    }
}
