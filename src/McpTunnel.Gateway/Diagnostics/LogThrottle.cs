namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// Lets one log line through per <see cref="Interval"/> for an event that an attacker can repeat at will (a flood
/// of connections hitting a limit or a timeout), and counts the events in between, so the line that does get
/// through says how many there were and a flood cannot flood the log. Lock-free; the events themselves are also
/// counted exactly by metrics.
/// </summary>
internal sealed class LogThrottle(TimeProvider time)
{
    /// <summary>At most one line per this interval.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    private readonly long _intervalTicks = (long)(Interval.TotalSeconds * time.TimestampFrequency);
    private long _count;
    private long _next = long.MinValue;

    /// <summary>
    /// Counts one event. Returns the number of events to report (this one and those held back since the last
    /// line) when a line is due, otherwise 0.
    /// </summary>
    public long Hit()
    {
        Interlocked.Increment(ref _count);
        var now = time.GetTimestamp();
        var next = Volatile.Read(ref _next);
        if (now < next || Interlocked.CompareExchange(ref _next, now + _intervalTicks, next) != next)
        {
            return 0;
        }

        return Interlocked.Exchange(ref _count, 0);
    }
}
