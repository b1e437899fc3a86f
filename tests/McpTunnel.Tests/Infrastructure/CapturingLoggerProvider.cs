using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>Collects every formatted log line so tests can assert on the documented strings.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<LogLine>> _waiters = new();

    public IReadOnlyList<LogLine> Lines => [.. _lines];

    public IEnumerable<string> Messages => _lines.Select(l => l.Message);

    public bool Contains(string text) => _lines.Any(l => l.Message.Contains(text, StringComparison.Ordinal));

    /// <summary>Waits until a line containing <paramref name="text"/> has been logged.</summary>
    public async Task<LogLine> WaitForAsync(string text, TimeSpan? timeout = null)
    {
        var waiter = _waiters.GetOrAdd(text, _ => new TaskCompletionSource<LogLine>(TaskCreationOptions.RunContinuationsAsynchronously));
        var existing = _lines.FirstOrDefault(l => l.Message.Contains(text, StringComparison.Ordinal));
        if (existing is not null)
        {
            return existing;
        }

        return await waiter.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(15));
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private void Add(LogLine line)
    {
        _lines.Enqueue(line);
        foreach (var (text, waiter) in _waiters)
        {
            if (line.Message.Contains(text, StringComparison.Ordinal))
            {
                waiter.TrySetResult(line);
            }
        }
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(new LogLine(logLevel, category, formatter(state, exception), exception)
            {
                // The structured fields, as Serilog would see them (minus the template itself).
                Properties = state is IEnumerable<KeyValuePair<string, object?>> pairs
                    ? pairs.Where(p => p.Key != "{OriginalFormat}").ToDictionary(p => p.Key, p => Convert.ToString(p.Value, System.Globalization.CultureInfo.InvariantCulture))
                    : new Dictionary<string, string?>(),
            });
    }
}

public sealed record LogLine(LogLevel Level, string Category, string Message, Exception? Exception)
{
    public IReadOnlyDictionary<string, string?> Properties { get; init; } = new Dictionary<string, string?>();
}
