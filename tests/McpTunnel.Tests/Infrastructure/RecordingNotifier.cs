using System.Threading.Channels;
using McpTunnel.Hosting;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>systemd's side of sd_notify for unit tests: keeps every notification in order and lets a test wait for one.</summary>
public sealed class RecordingNotifier : ISystemdNotifier
{
    private readonly Lock _sync = new();
    private readonly List<string> _all = [];
    private readonly Channel<string> _arrivals = Channel.CreateUnbounded<string>();

    public IReadOnlyList<string> All
    {
        get
        {
            lock (_sync)
            {
                return [.. _all];
            }
        }
    }

    public int Count(string state) => All.Count(n => n == state);

    public void Notify(string state)
    {
        lock (_sync)
        {
            _all.Add(state);
        }

        _arrivals.Writer.TryWrite(state);
    }

    /// <summary>The next notification (in arrival order, none skipped silently) that contains <paramref name="text"/>.</summary>
    public async Task<string> WaitForAsync(string text, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var state = await _arrivals.Reader.ReadAsync(cancel.Token);
            if (state.Contains(text, StringComparison.Ordinal))
            {
                return state;
            }
        }
    }
}
