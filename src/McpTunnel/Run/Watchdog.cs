using McpTunnel.Hosting;

namespace McpTunnel.Run;

/// <summary>
/// systemd's watchdog: <c>WATCHDOG=1</c> every half <c>WatchdogSec</c> (<see cref="SystemdNotifier.WatchdogInterval"/>),
/// but only while the process is healthy, so a gateway that stopped listening or a supervisor loop that died gets
/// the service restarted instead of being kept alive by a timer that still ticks.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    private readonly ITimer _timer;

    private Watchdog(ISystemdNotifier notifier, TimeProvider time, TimeSpan interval, Func<bool> healthy) =>
        _timer = time.CreateTimer(_ =>
        {
            if (healthy())
            {
                notifier.Notify("WATCHDOG=1");
            }
        }, null, TimeSpan.Zero, interval);

    /// <summary>A running watchdog, or null when systemd asked for none (<paramref name="interval"/> null).</summary>
    public static Watchdog? Start(ISystemdNotifier notifier, TimeProvider time, TimeSpan? interval, Func<bool> healthy) =>
        interval is { } every ? new Watchdog(notifier, time, every, healthy) : null;

    public void Dispose() => _timer.Dispose();
}
