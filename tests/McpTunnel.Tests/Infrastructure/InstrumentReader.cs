using System.Diagnostics.Metrics;
using System.Globalization;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// Reads the instruments of one <see cref="Meter"/> object (not every meter of that name: tests run many
/// gateways at once) the way an exporter does: observable instruments are polled, and measurements of the other
/// instruments recorded while the reader listens are summed per tag set.
/// </summary>
public sealed class InstrumentReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, double> _totals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public InstrumentReader(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    /// <summary>
    /// One line per instrument and tag set, <c>name{k=v,...} value</c> (tags sorted); observable instruments show their
    /// current value, histograms the count of their measurements (<c>name.count</c>) since the reader started.
    /// </summary>
    public IReadOnlyList<string> Snapshot()
    {
        lock (_totals)
        {
            foreach (var key in _totals.Keys.Where(k => k.StartsWith("observed:", StringComparison.Ordinal)).ToList())
            {
                _totals.Remove(key);
            }
        }

        _listener.RecordObservableInstruments();
        lock (_totals)
        {
            return _totals.Select(p => $"{p.Key.Replace("observed:", "", StringComparison.Ordinal)} {p.Value.ToString(CultureInfo.InvariantCulture)}")
                .Concat(_counts.Select(p => $"{p.Key}.count {p.Value.ToString(CultureInfo.InvariantCulture)}"))
                .Order(StringComparer.Ordinal).ToList();
        }
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var sorted = tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}");
        var series = $"{instrument.Name}{{{string.Join(",", sorted)}}}";
        lock (_totals)
        {
            if (instrument.IsObservable)
            {
                _totals["observed:" + series] = value;
            }
            else if (instrument is Histogram<double>)
            {
                _counts[series] = _counts.GetValueOrDefault(series) + 1;
            }
            else
            {
                _totals[series] = _totals.GetValueOrDefault(series) + value;
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
