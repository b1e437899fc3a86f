using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Text;

/// <summary>
/// With <c>MCP_BENCH_ALLOC_TYPES</c> set (a path prefix): which types the allocations are, from the runtime's
/// GC allocation ticks (one event per ~100 KB allocated, naming the type of the object that crossed the mark; the
/// bytes since the previous tick are counted against it, the usual sampling estimate). Every probe read writes the
/// ticks since the previous read to <c>PREFIX.N.txt</c>, largest first, and starts over: with telemetry.sh's two
/// reads, file 2 is the measured load. Listening costs allocations of its own, so a run with this on is for
/// attribution only, never for the bytes-per-request figure.
/// </summary>
internal sealed class AllocationTypes : EventListener
{
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private readonly string _prefix;
    private int _reads;

    public AllocationTypes(string prefix) => _prefix = prefix;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword: AllocationTick at verbose
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null || e.Payload is null)
        {
            return;
        }

        var type = e.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? e.Payload[t] as string ?? "?" : "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload[a], CultureInfo.InvariantCulture) : 100_000;
        _bytes.AddOrUpdate(type, amount, (_, sum) => sum + amount);
    }

    /// <summary>Writes the types since the last call and starts over.</summary>
    public void Flush()
    {
        var snapshot = _bytes.ToArray();
        _bytes.Clear();
        var total = snapshot.Sum(p => p.Value);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# sampled bytes {total}\n");
        foreach (var (type, bytes) in snapshot.OrderByDescending(p => p.Value))
        {
            text.Append(CultureInfo.InvariantCulture, $"{bytes,12} {100.0 * bytes / Math.Max(total, 1),5:0.0}% {type}\n");
        }

        File.WriteAllText($"{_prefix}.{Interlocked.Increment(ref _reads)}.txt", text.ToString());
    }
}
