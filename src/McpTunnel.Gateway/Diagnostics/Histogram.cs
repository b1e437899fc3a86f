namespace McpTunnel.Gateway.Diagnostics;

/// <summary>A cumulative histogram with fixed buckets; lock-free.</summary>
public sealed class Histogram
{
    private readonly long[] _counts = new long[GatewayMetrics.DurationBuckets.Length + 1];
    private long _sumMicroseconds;

    public void Observe(double seconds)
    {
        var index = Array.FindIndex(GatewayMetrics.DurationBuckets, b => seconds <= b);
        Interlocked.Increment(ref _counts[index < 0 ? GatewayMetrics.DurationBuckets.Length : index]);
        Interlocked.Add(ref _sumMicroseconds, (long)(seconds * 1_000_000));
    }

    public double Sum => Interlocked.Read(ref _sumMicroseconds) / 1_000_000.0;

    /// <summary>Cumulative counts per bucket, the last one being +Inf (the total).</summary>
    public long[] Cumulative()
    {
        var result = new long[_counts.Length];
        long running = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            running += Interlocked.Read(ref _counts[i]);
            result[i] = running;
        }

        return result;
    }
}
