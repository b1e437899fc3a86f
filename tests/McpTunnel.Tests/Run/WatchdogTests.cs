using McpTunnel.Hosting;
using McpTunnel.Run;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Run;

/// <summary>systemd's watchdog on a fake clock: pings every half WatchdogSec while healthy, none otherwise.</summary>
public sealed class WatchdogTests
{
    [Theory]
    [InlineData("4000000", null, 2.0)]
    [InlineData("4000000", "self", 2.0)]
    [InlineData("4000000", "1", null)] // WATCHDOG_PID names another process: the pings are not ours to send
    [InlineData(null, null, null)]
    [InlineData("0", null, null)]
    [InlineData("soon", null, null)]
    public void The_interval_is_half_of_WATCHDOG_USEC_for_this_process(string? usec, string? pid, double? seconds)
    {
        var environment = new Dictionary<string, string?>
        {
            ["WATCHDOG_USEC"] = usec,
            ["WATCHDOG_PID"] = pid == "self" ? Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) : pid,
        };
        Assert.Equal(seconds is { } s ? TimeSpan.FromSeconds(s) : null, SystemdNotifier.WatchdogInterval(name => environment.GetValueOrDefault(name)));
    }

    [Fact]
    public void Without_an_interval_there_is_no_watchdog()
    {
        var notifier = new RecordingNotifier();
        Assert.Null(Watchdog.Start(notifier, new FakeTimeProvider(), null, () => true));
        Assert.Empty(notifier.All);
    }

    [Fact]
    public void It_pings_at_once_then_every_interval_and_only_while_healthy()
    {
        var notifier = new RecordingNotifier();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var healthy = true;
        var interval = TimeSpan.FromSeconds(2);
        using var watchdog = Watchdog.Start(notifier, time, interval, () => healthy);
        Assert.NotNull(watchdog);
        time.Advance(TimeSpan.Zero);
        Assert.Equal(1, notifier.Count("WATCHDOG=1"));
        time.Advance(interval - TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, notifier.Count("WATCHDOG=1"));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, notifier.Count("WATCHDOG=1"));

        // Unhealthy (the gateway stopped listening, or the supervisor loop died): systemd must see the pings stop.
        healthy = false;
        time.Advance(interval * 3);
        Assert.Equal(2, notifier.Count("WATCHDOG=1"));

        healthy = true;
        time.Advance(interval);
        Assert.Equal(3, notifier.Count("WATCHDOG=1"));
        Assert.All(notifier.All, n => Assert.Equal("WATCHDOG=1", n));
    }
}
