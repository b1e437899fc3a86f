using System.Runtime.InteropServices;

namespace McpTunnel.Hosting;

/// <summary>
/// Turns SIGTERM, SIGINT and SIGQUIT into a cancellation token; the first signal starts a graceful stop, a
/// second one is left to the runtime's default (immediate exit).
/// </summary>
internal sealed class ShutdownSignal : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    public ShutdownSignal()
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                if (!_stopping.IsCancellationRequested)
                {
                    context.Cancel = true;
                    _stopping.Cancel();
                }
            }));
        }
    }

    public CancellationToken Token => _stopping.Token;

    /// <summary>Completes when a stop signal arrives.</summary>
    public Task WaitAsync() => Task.Delay(Timeout.Infinite, Token).ContinueWith(static _ => { }, TaskScheduler.Default);

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _stopping.Dispose();
    }
}
