using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using CliWrap;

namespace McpTunnel.Connector;

/// <summary>
/// One cloudflared process: started, watched (log, readiness) and stopped. The supervisor may run two of them
/// for a moment, during a make-before-break token rotation.
/// </summary>
/// <remarks>
/// Readiness only ever comes from this child: <c>/ready</c> is polled only at the address this child logged
/// ("Starting metrics server on 127.0.0.1:PORT/metrics", written by cloudflared after it has bound the port), and
/// only while it runs. With <c>--metrics 127.0.0.1:0</c> the kernel picks a port nobody else holds, per start; a
/// foreign listener on a fixed port makes this child exit 1 ("address already in use") without ever being read.
/// </remarks>
internal sealed partial class CloudflaredChild : IDisposable
{
    private const int MaxUsage = 64 * 1024;
    private readonly CloudflaredOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly Action<CloudflaredChild, CloudflaredEvent> _onEvent;
    private readonly Action<CloudflaredChild, bool> _onReady;
    private readonly CancellationTokenSource _graceful = new();
    private readonly CancellationTokenSource _forceful = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StringBuilder _stdout = new();
    private readonly CancellationTokenSource _polling = new();
    private Task<int> _exited = Task.FromResult(-1);
    private volatile bool _isReady;
    private int _stopping;

    public CloudflaredChild(CloudflaredOptions options, HttpClient http, TimeProvider time, Action<CloudflaredChild, CloudflaredEvent> onEvent, Action<CloudflaredChild, bool> onReady)
    {
        _options = options;
        _http = http;
        _time = time;
        _onEvent = onEvent;
        _onReady = onReady;
    }

    public CloudflaredOptions Options => _options;

    public int? Pid { get; private set; }

    /// <summary>The exit code; -1 when it was killed or could not be started.</summary>
    public Task<int> Exited => _exited;

    /// <summary>Completes when this child's <c>/ready</c> first answers 200.</summary>
    public Task BecameReady => _ready.Task;

    public bool Ready => _isReady;

    public bool WasReady => _ready.Task.IsCompleted;

    /// <summary>True once a stop was asked for (an exit after that was expected).</summary>
    public bool StopRequested => Volatile.Read(ref _stopping) != 0;

    /// <summary>Set when the stop had to end in SIGKILL.</summary>
    public bool Killed { get; private set; }

    /// <summary>The metrics address this child reported listening on; null until then.</summary>
    public string? MetricsAddress { get; private set; }

    /// <summary>The last problem its log described (<see cref="CloudflaredProblems"/>).</summary>
    public string? Problem { get; set; }

    /// <summary>
    /// urfave/cli's complaint when this child printed a usage text instead of running (spec 1.2: on stdout, exit
    /// 0), e.g. <c>flag provided but not defined: -no-prechecks</c>; null otherwise. Not yet redacted.
    /// </summary>
    public string? UsageError
    {
        get
        {
            string text;
            lock (_stdout)
            {
                text = _stdout.ToString();
            }

            var match = IncorrectUsage().Match(text);
            return match.Success ? match.Groups[1].Value.Trim() : null;
        }
    }

    /// <summary>Starts the process (from <see cref="ChildLauncher"/>'s thread, see there) and begins watching it.</summary>
    /// <param name="chain">Programs that exec the binary in the end (setpriv, setsid), with their arguments.</param>
    /// <param name="args">cloudflared's own arguments (<see cref="CloudflaredArguments.Build"/>).</param>
    public async Task StartAsync(IReadOnlyList<string> chain, IReadOnlyList<string> args)
    {
        var target = chain.Count > 0 ? chain[0] : _options.Binary;
        IReadOnlyList<string> argv = chain.Count > 0 ? [.. chain.Skip(1), _options.Binary, .. args] : args;
        var stderr = new CloudflaredOutput(e => OnEvent(e));
        var command = ChildLauncher.Command(target).WithArguments(argv)
            .WithStandardOutputPipe(PipeTarget.Create((stream, ct) => ReadStdoutAsync(stream, ct)))
            .WithStandardErrorPipe(PipeTarget.Create((stream, ct) => ReadStderrAsync(stream, stderr, ct)));
        int? exitCode = null;
        var execution = await ChildLauncher.Run(() => command.ExecuteAsync(
            startInfo => CloudflaredArguments.Restrict(startInfo.Environment),
            started =>
            {
                Pid = started.Id;
                started.Exited += (sender, _) =>
                {
                    try
                    {
                        exitCode = ((Process)sender!).ExitCode;
                    }
                    catch (InvalidOperationException)
                    {
                        // Already released by CliWrap; the code is then unknown.
                    }
                };
            },
            _forceful.Token,
            _graceful.Token)).ConfigureAwait(false);
        _exited = WaitAsync(execution, () => exitCode);
    }

    private async Task<int> WaitAsync(CommandTask<CommandResult> execution, Func<int?> exitCode)
    {
        try
        {
            return (await execution.ConfigureAwait(false)).ExitCode;
        }
        catch (OperationCanceledException)
        {
            Killed = _forceful.IsCancellationRequested;
            return Killed ? -1 : exitCode() ?? -1;
        }
        finally
        {
            await _polling.CancelAsync().ConfigureAwait(false);
            if (_isReady)
            {
                _isReady = false;
                _onReady(this, false);
            }
        }
    }

    /// <summary>SIGINT once (cloudflared drains up to its grace period), SIGKILL after the grace period plus a margin.</summary>
    public async Task<int> StopAsync()
    {
        if (Interlocked.Exchange(ref _stopping, 1) == 0 && !_exited.IsCompleted)
        {
            try
            {
                _forceful.CancelAfter(_options.KillAfter);
                await _graceful.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // It exited and was released meanwhile.
            }
        }

        return await _exited.ConfigureAwait(false);
    }

    private async Task ReadStdoutAsync(Stream stream, CancellationToken cancellationToken)
    {
        // cloudflared writes only its usage text to stdout (spec 1.2); keep the start of it, never log it.
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            lock (_stdout)
            {
                if (_stdout.Length < MaxUsage)
                {
                    _stdout.Append(buffer, 0, read);
                }
            }
        }
    }

    private static async Task ReadStderrAsync(Stream stream, CloudflaredOutput output, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            output.Write(buffer.AsSpan(0, read));
        }

        output.Complete();
    }

    private void OnEvent(CloudflaredEvent e)
    {
        if (MetricsAddress is null && MetricsLine().Match(e.Message) is { Success: true } metrics)
        {
            MetricsAddress = metrics.Groups[1].Value;
            _ = PollReadyAsync(new Uri($"http://{MetricsAddress}/ready"), _polling.Token);
        }

        _onEvent(this, e);
    }

    private async Task PollReadyAsync(Uri url, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ReadyPollInterval, _time);
        try
        {
            do
            {
                bool ready;
                try
                {
                    using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
                    ready = response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    ready = false;
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    ready = false;
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                if (ready != _isReady)
                {
                    _isReady = ready;
                    if (ready)
                    {
                        _ready.TrySetResult();
                    }

                    _onReady(this, ready);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The child is gone or stopping.
        }
    }

    /// <summary>Releases the cancellation sources once the process has exited.</summary>
    public void Dispose()
    {
        _graceful.Dispose();
        _forceful.Dispose();
        _polling.Dispose();
    }

    [GeneratedRegex(@"^Starting metrics server on (\S+)/metrics$")]
    private static partial Regex MetricsLine();

    /// <summary>urfave/cli: "Incorrect Usage. err" (tunnel level) or "Incorrect Usage: err" (a subcommand).</summary>
    [GeneratedRegex(@"Incorrect Usage[.:] ([^\n]+)")]
    private static partial Regex IncorrectUsage();
}
