using System.Diagnostics;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using CliWrap;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>What the connector is doing, for readiness, STATUS= and metrics.</summary>
public enum ConnectorState
{
    Stopped,
    Starting,
    Connected,
    Disconnected,
    Backoff,
    ConfigurationError,
}

/// <summary>
/// Runs cloudflared as a child process and keeps it running.
/// <remarks>
/// 1. Start it with a fixed argv (<see cref="CloudflaredArguments"/>) and a scrubbed environment; its JSON
///    log lines become ours (level and message kept, tokens redacted).
/// 2. Readiness is only what its <c>/ready</c> says (200 = at least one registered edge connection).
/// 3. When it exits on its own, restart it after an exponential backoff with jitter, capped; the backoff
///    resets once a run has been connected. Exit 255 (bad token or usage) and an exit 0 nobody asked for (a
///    rejected command line) are configuration problems: long backoff, never a hot loop.
/// 4. Stopping sends SIGINT once (cloudflared drains up to its grace period, which is shorter than ours),
///    then SIGKILL if it is still running after the grace period plus a margin.
/// </remarks>
/// </summary>
public sealed class CloudflaredSupervisor : IDisposable
{
    private CloudflaredOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _ready = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly TokenRedactor _redactor = new();
    private readonly Lock _sync = new();
    private CancellationTokenSource? _restart;
    private volatile bool _printedUsage;
    private volatile bool _setprivRefused;
    private int _restarts;
    private int? _lastExitCode;
    private int? _pid;

    public CloudflaredSupervisor(CloudflaredOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    public ConnectorState State { get; private set; } = ConnectorState.Stopped;

    public bool Ready => State == ConnectorState.Connected;

    public int Restarts => Volatile.Read(ref _restarts);

    public int? LastExitCode => _lastExitCode;

    public int? ProcessId => _pid;

    /// <summary>A sentence saying what we are waiting for, for systemd's STATUS= and /readyz.</summary>
    public string Status { get; private set; } = "cloudflared not started";

    public event Action<ConnectorState>? StateChanged;

    /// <summary>The token file changed (a rotation): restart cloudflared gracefully with the new value.</summary>
    /// <param name="from">
    /// Where the new token is, when it is not where the old one was (under systemd the credential is a copy made
    /// at start; a rotation written by <c>setup init</c> lands in the data directory the credential was loaded from).
    /// </param>
    public void RestartForNewToken(TokenSource? from = null)
    {
        if (from is not null)
        {
            lock (_sync)
            {
                _options = _options with { Token = from };
            }
        }

        ConnectorLog.TokenChanged(_logger);
        RequestRestart();
    }

    /// <summary>Restarts cloudflared gracefully; the gateway is not touched.</summary>
    public void RequestRestart()
    {
        lock (_sync)
        {
            _restart?.Cancel();
        }
    }

    /// <summary>Runs until <paramref name="stopping"/> is cancelled; then stops the child and returns.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            using var restart = new CancellationTokenSource();
            lock (_sync)
            {
                _restart = restart;
            }

            var (code, wasReady) = await RunOnceAsync(stopping, restart.Token).ConfigureAwait(false);
            _lastExitCode = code;
            if (stopping.IsCancellationRequested)
            {
                break;
            }

            Interlocked.Increment(ref _restarts);
            if (restart.IsCancellationRequested)
            {
                failures = 0;
                continue;
            }

            failures = wasReady ? 1 : failures + 1;
            TimeSpan delay;
            if (code == 255 || (code == 0 && _printedUsage) || code == 0)
            {
                delay = _options.ConfigErrorBackoff;
                var reason = code == 255
                    ? "bad or unreadable tunnel token, or a usage error (check tunnel-token)"
                    : "it exited 0 without being asked to stop (a rejected command line or an unexpected exit)";
                // Log first: whoever sees the new state (health, systemd STATUS, tests) finds the reason logged.
                ConnectorLog.ConfigurationProblem(_logger, code, reason, Format(delay));
                Set(ConnectorState.ConfigurationError, $"cloudflared configuration problem (exit {code}); retrying in {Format(delay)}");
            }
            else
            {
                delay = Backoff(failures);
                ConnectorLog.Exited(_logger, code, Format(delay));
                Set(ConnectorState.Backoff, $"cloudflared exited with {code}; restarting in {Format(delay)}");
            }

            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            lock (_sync)
            {
                _restart = wake;
            }

            try
            {
                await Task.Delay(delay, _time, wake.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping, or a restart was requested (new token): go on at once.
            }
        }

        Set(ConnectorState.Stopped, "cloudflared stopped");
    }

    /// <summary>Exponential backoff with up to 25 % jitter: 1 s, 2 s, 4 s … capped.</summary>
    public TimeSpan Backoff(int failures)
    {
        var exponent = Math.Min(failures - 1, 16);
        var ticks = Math.Min(_options.RestartBackoffInitial.Ticks * (1L << exponent), _options.RestartBackoffMax.Ticks);
        return TimeSpan.FromTicks((long)(ticks * (1 + (Random.Shared.NextDouble() * 0.25))));
    }

    private async Task<(int Code, bool WasReady)> RunOnceAsync(CancellationToken stopping, CancellationToken restart)
    {
        _printedUsage = false;
        CloudflaredOptions options;
        lock (_sync)
        {
            options = _options;
        }

        string token;
        try
        {
            token = (await File.ReadAllTextAsync(options.Token.Path, CancellationToken.None).ConfigureAwait(false)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ConnectorLog.CannotStart(_logger, $"cannot read the tunnel token {options.Token.Description}: {ex.Message}");
            return (255, false);
        }

        _redactor.SetToken(token);
        Set(ConnectorState.Starting, "waiting for cloudflared to register edge connections");
        ConnectorLog.Starting(_logger, options.Binary, options.GatewayUrl.ToString(), options.MetricsAddress, options.Token.Description);

        using var graceful = CancellationTokenSource.CreateLinkedTokenSource(stopping, restart);
        using var forceful = new CancellationTokenSource();
        using var onGraceful = graceful.Token.Register(() =>
        {
            ConnectorLog.Stopping(_logger, Format(options.GracePeriod));
            forceful.CancelAfter(options.KillAfter);
        });

        int? exitCode = null;
        var wasReady = false;
        using var pollStop = new CancellationTokenSource();
        var poller = PollReadyAsync(() => wasReady = true, pollStop.Token);
        // Through setpriv the child gets SIGKILL from the kernel if we die without cleaning up (see ChildLauncher).
        var tied = ChildLauncher.Available && !_setprivRefused;
        var command = Cli.Wrap(tied ? ChildLauncher.SetPriv : options.Binary)
            .WithArguments(tied ? ["--pdeathsig", "KILL", "--", options.Binary, .. CloudflaredArguments.Build(options)] : CloudflaredArguments.Build(options))
            .WithValidation(CommandResultValidation.None)
            .WithStandardOutputPipe(PipeTarget.ToDelegate(OnStdout, Encoding.UTF8))
            .WithStandardErrorPipe(PipeTarget.ToDelegate(OnStderr, Encoding.UTF8));
        int code;
        try
        {
            var execution = await ChildLauncher.Run(() => command.ExecuteAsync(
                startInfo =>
                {
                    foreach (var name in startInfo.Environment.Keys.Where(CloudflaredArguments.IsScrubbed).ToList())
                    {
                        startInfo.Environment.Remove(name);
                    }
                },
                started =>
                {
                    _pid = started.Id;
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
                forceful.Token,
                graceful.Token)).ConfigureAwait(false);
            var result = await execution.ConfigureAwait(false);
            code = result.ExitCode;
        }
        catch (OperationCanceledException)
        {
            code = exitCode ?? -1;
            if (forceful.IsCancellationRequested)
            {
                ConnectorLog.Killed(_logger, Format(options.KillAfter));
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            ConnectorLog.CannotStart(_logger, $"{options.Binary}: {ex.Message}");
            code = 1;
        }
        finally
        {
            _pid = null;
            await pollStop.CancelAsync().ConfigureAwait(false);
            await poller.ConfigureAwait(false);
        }

        if (stopping.IsCancellationRequested || restart.IsCancellationRequested)
        {
            ConnectorLog.Stopped(_logger, code);
        }

        return (code, wasReady);
    }

    private async Task PollReadyAsync(Action onReady, CancellationToken cancellationToken)
    {
        var url = new Uri($"http://{_options.MetricsAddress}/ready");
        using var timer = new PeriodicTimer(_options.ReadyPollInterval, _time);
        try
        {
            do
            {
                bool ready;
                try
                {
                    using var response = await _ready.GetAsync(url, cancellationToken).ConfigureAwait(false);
                    ready = response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    ready = false; // not listening yet: still starting (spec 0.6)
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    ready = false;
                }

                if (ready && State != ConnectorState.Connected)
                {
                    onReady();
                    Set(ConnectorState.Connected, "connected: cloudflared has registered edge connections");
                    ConnectorLog.Ready(_logger);
                }
                else if (!ready && State == ConnectorState.Connected)
                {
                    Set(ConnectorState.Disconnected, "cloudflared lost its edge connections; it is reconnecting");
                    ConnectorLog.NotReady(_logger);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // The child is gone or stopping.
        }
    }

    private void OnStdout(string line)
    {
        // cloudflared writes to stdout only its usage text, after a rejected command line (spec 1.2).
        _printedUsage = true;
        ConnectorLog.ChildLine(_logger, LogLevel.Warning, _redactor.Redact(line));
    }

    private void OnStderr(string line)
    {
        if (line.StartsWith("setpriv: ", StringComparison.Ordinal))
        {
            // A sandbox that forbids prctl(PR_SET_PDEATHSIG): start cloudflared directly from now on (under
            // systemd the unit's control group still guarantees no orphan).
            _setprivRefused = true;
        }

        line = _redactor.Redact(line);
        if (line.StartsWith('{'))
        {
            try
            {
                using var document = JsonDocument.Parse(line);
                var root = document.RootElement;
                var message = root.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "";
                var level = root.TryGetProperty("level", out var l) ? l.GetString() : "info";
                var logLevel = Level(level);
                if (_logger.IsEnabled(logLevel))
                {
                    var fields = string.Join(' ', root.EnumerateObject()
                        .Where(p => p.Name is not ("message" or "level" or "time"))
                        .Select(p => $"{p.Name}={p.Value}"));
                    ConnectorLog.ChildLine(_logger, logLevel, fields.Length == 0 ? message : $"{message} {fields}");
                }

                return;
            }
            catch (JsonException)
            {
                // Not JSON after all; log the line as it is.
            }
        }

        if (line.Length > 0)
        {
            ConnectorLog.ChildLine(_logger, LogLevel.Warning, line);
        }
    }

    private static LogLevel Level(string? level) => level switch
    {
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        "error" or "fatal" or "panic" => LogLevel.Error,
        _ => LogLevel.Information,
    };

    private void Set(ConnectorState state, string status)
    {
        Status = status;
        if (State != state)
        {
            State = state;
            StateChanged?.Invoke(state);
        }
    }

    public void Dispose() => _ready.Dispose();

    private static string Format(TimeSpan value) => value.TotalSeconds < 60 ? $"{value.TotalSeconds:0.#}s" : $"{value.TotalMinutes:0.#}m";
}
