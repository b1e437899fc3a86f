using System.ComponentModel;
using CliWrap.Buffered;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>
/// Runs cloudflared as a child process and keeps it running.
/// </summary>
/// <remarks>
/// 1. Before the first start (and whenever the binary changes) it reads <c>cloudflared --version</c>: a release
///    older than <see cref="CloudflaredVersion.Minimum"/> is reported once and not started until the binary is
///    replaced; an older but supported one gets only the flags it knows (<see cref="CloudflaredArguments"/>).
/// 2. The child gets a fixed argv, an allow-listed environment, <c>/</c> as working directory and a process group
///    of its own (<see cref="CloudflaredChild"/>, <see cref="ChildLauncher"/>). Its log becomes ours, event by
///    event, fields as fields, tokens redacted (<see cref="CloudflaredOutput"/>).
/// 3. Readiness is only what this child's own <c>/ready</c> says (200 = at least one registered edge connection).
/// 4. When it exits on its own it is restarted after an exponential backoff with jitter, capped; the backoff resets
///    once a run has been connected. Exit 255 (bad token) and an exit 0 nobody asked for are configuration
///    problems: long backoff, never a hot loop. An exit 0 after a usage text is a rejected command line: said
///    once, with the flag, and not retried until the binary changes.
/// 5. A new token (or <see cref="RequestRestart"/>) replaces a connected child make-before-break: a second
///    cloudflared starts with the new token (cloudflared allows several connectors per tunnel), and the old one is
///    stopped only once the new one's <c>/ready</c> answers 200. If the new one fails, the old one keeps serving.
/// 6. Stopping sends SIGINT once (cloudflared drains up to its grace period, which is shorter than ours), then
///    SIGKILL if it is still running after the grace period plus a margin.
/// </remarks>
public sealed class CloudflaredSupervisor : IDisposable
{
    private const string ConnectedStatus = "connected: cloudflared has registered edge connections";
    private const string StartingStatus = "waiting for cloudflared to register edge connections";
    private CloudflaredOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HttpClient _ready = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
    private readonly TokenRedactor _redactor = new();
    private readonly Lock _sync = new();
    private readonly List<Task> _retiring = [];
    private readonly List<CloudflaredChild> _live = [];
    private TaskCompletionSource _replace = NewSignal();
    private CloudflaredChild? _current;
    private volatile bool _setprivRefused;
    private int _restarts;
    private int? _lastExitCode;
    private string? _fingerprint;
    private bool _versionChecked;

    public CloudflaredSupervisor(CloudflaredOptions options, ILogger logger, TimeProvider? time = null)
    {
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    public ConnectorState State { get; private set; } = ConnectorState.Stopped;

    public bool Ready => State == ConnectorState.Connected;

    /// <summary>cloudflared starts after the first (restarts and rotations), not exits.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    public int? LastExitCode => _lastExitCode;

    /// <summary>The PID of the cloudflared that serves (during a rotation, the old one until the new one is connected).</summary>
    public int? ProcessId => _current?.Pid;

    /// <summary>The PIDs of every running cloudflared (two during a rotation).</summary>
    public IReadOnlyList<int> ProcessIds
    {
        get
        {
            lock (_sync)
            {
                return [.. _live.Select(c => c.Pid).OfType<int>()];
            }
        }
    }

    /// <summary>The release of the binary, once read; null when unknown (then the full command line is used).</summary>
    public CloudflaredVersion? Version { get; private set; }

    /// <summary>A sentence saying what we are waiting for, for systemd's STATUS= and /readyz.</summary>
    public string Status { get; private set; } = "cloudflared not started";

    public event Action<ConnectorState>? StateChanged;

    /// <summary>Raised whenever <see cref="Status"/> changes (also without a change of state).</summary>
    public event Action<string>? StatusChanged;

    /// <summary>The token file changed (a rotation): replace cloudflared, make-before-break, with the new value.</summary>
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

    /// <summary>The gateway's address for <c>--url</c> (the bound one, known once the gateway listens); used from the next start.</summary>
    public void SetGatewayUrl(Uri url)
    {
        lock (_sync)
        {
            _options = _options with { GatewayUrl = url };
        }
    }

    /// <summary>Replaces cloudflared (make-before-break when it is connected); the gateway is not touched.</summary>
    public void RequestRestart()
    {
        lock (_sync)
        {
            _replace.TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Task ReplaceRequested
    {
        get
        {
            lock (_sync)
            {
                return _replace.Task;
            }
        }
    }

    private void ConsumeRequest()
    {
        lock (_sync)
        {
            if (_replace.Task.IsCompleted)
            {
                _replace = NewSignal();
            }
        }
    }

    private CloudflaredOptions Snapshot()
    {
        lock (_sync)
        {
            return _options;
        }
    }

    /// <summary>Runs until <paramref name="stopping"/> is cancelled; then stops the child and returns.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var failures = 0;
        var attempts = 0;
        try
        {
            while (!stopping.IsCancellationRequested && await EnsureSupportedAsync(stopping).ConfigureAwait(false))
            {
                // A restart asked for while nothing ran is served by this start.
                ConsumeRequest();
                if (attempts++ > 0)
                {
                    Interlocked.Increment(ref _restarts);
                }

                var (child, failed) = await StartAsync(Snapshot(), rotation: false).ConfigureAwait(false);
                var outcome = child is null
                    ? new Outcome(failed!.Value, WasReady: false)
                    : await SuperviseAsync(child, stopping).ConfigureAwait(false);
                if (outcome.Stopped || stopping.IsCancellationRequested)
                {
                    break;
                }

                if (outcome.Replaced)
                {
                    failures = 0;
                    continue;
                }

                _lastExitCode = outcome.Code;
                failures = outcome.WasReady ? 1 : failures + 1;
                if (outcome.Code == 0 && outcome.UsageError is { } usage)
                {
                    // The same binary would reject the same command line again.
                    var error = _redactor.Redact(usage);
                    var version = Version?.ToString() ?? "unknown";
                    ConnectorLog.CommandLineRejected(_logger, error, version, $"install a cloudflared that accepts it ({CloudflaredVersion.Minimum} or newer with a readable version; the mcp-tunnel package bundles one)");
                    Set(ConnectorState.ConfigurationError, $"cloudflared (version {version}) rejected its command line: {error}; waiting for a different cloudflared binary");
                    if (!await WaitForBinaryChangeAsync(stopping).ConfigureAwait(false))
                    {
                        break;
                    }

                    continue;
                }

                TimeSpan delay;
                if (outcome.Code is 255 or 0)
                {
                    delay = Snapshot().ConfigErrorBackoff;
                    var reason = outcome.Code == 255
                        ? "bad or unreadable tunnel token, or a usage error (check tunnel-token)"
                        : "it exited 0 without being asked to stop";
                    // Log first: whoever sees the new state (health, systemd STATUS, tests) finds the reason logged.
                    ConnectorLog.ConfigurationProblem(_logger, outcome.Code, reason, Format(delay));
                    Set(ConnectorState.ConfigurationError, $"cloudflared configuration problem (exit {outcome.Code}: {reason}); retrying in {Format(delay)}");
                }
                else
                {
                    delay = Backoff(failures);
                    ConnectorLog.Exited(_logger, outcome.Code, Format(delay));
                    var problem = outcome.Problem is null ? "" : $" ({outcome.Problem})";
                    Set(ConnectorState.Backoff, $"cloudflared exited with {outcome.Code}{problem}; restarting in {Format(delay)}");
                }

                await PauseAsync(delay, stopping).ConfigureAwait(false);
            }
        }
        finally
        {
            Task[] retiring;
            lock (_sync)
            {
                retiring = [.. _retiring];
            }

            await Task.WhenAll(retiring).ConfigureAwait(false);
            Set(ConnectorState.Stopped, "cloudflared stopped");
        }
    }

    /// <summary>Exponential backoff with up to 25 % jitter: 1 s, 2 s, 4 s … capped, jitter included.</summary>
    public TimeSpan Backoff(int failures)
    {
        var exponent = Math.Clamp(failures - 1, 0, 16);
        var options = Snapshot();
        var ticks = Math.Min(options.RestartBackoffInitial.Ticks * (1L << exponent), options.RestartBackoffMax.Ticks);
        var jittered = (long)(ticks * (1 + (Random.Shared.NextDouble() * 0.25)));
        return TimeSpan.FromTicks(Math.Min(jittered, options.RestartBackoffMax.Ticks));
    }

    private readonly record struct Outcome(int Code, bool WasReady, bool Stopped = false, bool Replaced = false, string? UsageError = null, string? Problem = null);

    /// <summary>Watches the serving child, replacing it on request, until it exits or we stop.</summary>
    private async Task<Outcome> SuperviseAsync(CloudflaredChild child, CancellationToken stopping)
    {
        var stopped = Task.Delay(Timeout.Infinite, stopping);
        while (true)
        {
            var request = ReplaceRequested;
            var first = await Task.WhenAny(child.Exited, request, stopped).ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
            {
                _lastExitCode = await StopChildAsync(child).ConfigureAwait(false);
                return new Outcome(_lastExitCode.Value, child.WasReady, Stopped: true);
            }

            if (first == child.Exited)
            {
                var code = await child.Exited.ConfigureAwait(false);
                return new Outcome(code, child.WasReady, UsageError: code == 0 ? child.UsageError : null, Problem: child.Problem);
            }

            ConsumeRequest();
            var options = Snapshot();
            if (!child.Ready || options.FixedMetricsPort)
            {
                // Nothing is served that a gap could interrupt, or two children cannot share the fixed metrics port.
                _lastExitCode = await StopChildAsync(child).ConfigureAwait(false);
                return new Outcome(_lastExitCode.Value, child.WasReady, Replaced: true);
            }

            Interlocked.Increment(ref _restarts);
            Set(ConnectorState.Connected, $"{ConnectedStatus}; replacing it: waiting for the new cloudflared to connect");
            var (candidate, failed) = await StartAsync(options, rotation: true).ConfigureAwait(false);
            if (candidate is null)
            {
                ConnectorLog.RotationFailed(_logger, $"the new cloudflared could not be started (code {failed})");
                Set(ConnectorState.Connected, $"{ConnectedStatus}; the last replacement failed to start");
                continue;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            var expired = Task.Delay(options.RotationTimeout, _time, timeout.Token);
            var outcome = await Task.WhenAny(candidate.BecameReady, candidate.Exited, child.Exited, stopped, expired).ConfigureAwait(false);
            await timeout.CancelAsync().ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
            {
                // Both drain at the same time: stopping must fit in one grace period.
                var codes = await Task.WhenAll(StopChildAsync(child), StopChildAsync(candidate)).ConfigureAwait(false);
                _lastExitCode = codes[0];
                return new Outcome(codes[0], child.WasReady, Stopped: true);
            }

            if (outcome == candidate.BecameReady || outcome == child.Exited)
            {
                // Make before break: the new one is connected (or the old one is gone anyway); the old one goes.
                var old = child;
                child = candidate;
                lock (_sync)
                {
                    _current = candidate;
                }

                if (old.Exited.IsCompleted)
                {
                    _lastExitCode = old.Exited.Result;
                    ConnectorLog.Stopped(_logger, _lastExitCode.Value);
                }
                else
                {
                    ConnectorLog.Rotated(_logger, old.Pid ?? 0);
                    Retire(old);
                }

                if (candidate.Ready)
                {
                    Set(ConnectorState.Connected, ConnectedStatus);
                }
                else
                {
                    Set(ConnectorState.Starting, candidate.Problem is null ? StartingStatus : $"{StartingStatus}: {candidate.Problem}");
                }

                continue;
            }

            var reason = outcome == candidate.Exited
                ? $"the new cloudflared exited with {await candidate.Exited.ConfigureAwait(false)}{(candidate.UsageError is { } usage ? $" ({_redactor.Redact(usage)})" : candidate.Problem is { } problem ? $" ({problem})" : "")}"
                : $"the new cloudflared did not connect within {Format(options.RotationTimeout)}{(candidate.Problem is { } stuck ? $" ({stuck})" : "")}";
            ConnectorLog.RotationFailed(_logger, reason);
            await StopChildAsync(candidate).ConfigureAwait(false);
            Set(ConnectorState.Connected, $"{ConnectedStatus}; the last replacement failed: {reason}");
        }
    }

    private void Retire(CloudflaredChild child)
    {
        var stopping = StopChildAsync(child);
        lock (_sync)
        {
            _retiring.RemoveAll(t => t.IsCompleted);
            _retiring.Add(stopping);
        }
    }

    private async Task<int> StopChildAsync(CloudflaredChild child)
    {
        if (!child.Exited.IsCompleted)
        {
            ConnectorLog.Stopping(_logger, Format(child.Options.GracePeriod));
        }

        var code = await child.StopAsync().ConfigureAwait(false);
        if (child.Killed)
        {
            ConnectorLog.Killed(_logger, Format(child.Options.KillAfter));
        }

        ConnectorLog.Stopped(_logger, code);
        return code;
    }

    /// <summary>Starts one child; null and an exit code when it could not even be started.</summary>
    private async Task<(CloudflaredChild? Child, int? Failed)> StartAsync(CloudflaredOptions options, bool rotation)
    {
        string token;
        try
        {
            if (options.Token.Value is { } value)
            {
                options.WriteSecretFile(options.Token.Path, value.Trim() + "\n");
            }

            token = (await File.ReadAllTextAsync(options.Token.Path, CancellationToken.None).ConfigureAwait(false)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ConnectorLog.CannotStart(_logger, $"cannot read the tunnel token {options.Token.Description}: {ex.Message}");
            return (null, 255);
        }

        _redactor.SetToken(token);
        if (!rotation)
        {
            Set(ConnectorState.Starting, StartingStatus);
        }

        ConnectorLog.Starting(_logger, options.Binary, Version?.ToString() ?? "unknown", options.GatewayUrl.ToString(), options.MetricsAddress, options.Token.Description);
        var child = new CloudflaredChild(options, _ready, _time, OnChildEvent, OnChildReady);
        lock (_sync)
        {
            _live.Add(child);
            if (!rotation)
            {
                _current = child;
            }
        }

        try
        {
            await child.StartAsync(ChildLauncher.Chain(ChildLauncher.Available && !_setprivRefused), CloudflaredArguments.Build(options, Version)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException)
        {
            ConnectorLog.CannotStart(_logger, $"{options.Binary}: {ex.Message}");
            Forget(child);
            return (null, 1);
        }

        _ = child.Exited.ContinueWith(_ => Forget(child), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return (child, null);
    }

    /// <summary>The child is gone: drop it, and the token copy made for it unless another child still runs on it.</summary>
    private void Forget(CloudflaredChild child)
    {
        bool release;
        lock (_sync)
        {
            _live.Remove(child);
            release = child.Options.Token.Value is not null && !_live.Any(c => c.Options.Token.Path == child.Options.Token.Path);
        }

        if (child.Exited.IsCompleted)
        {
            child.Dispose();
        }

        if (release)
        {
            try
            {
                File.Delete(child.Options.Token.Path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                ConnectorLog.CannotStart(_logger, $"cannot remove the token copy {child.Options.Token.Path}: {ex.Message}");
            }
        }
    }

    private void OnChildEvent(CloudflaredChild child, CloudflaredEvent e)
    {
        if (e.Message.StartsWith("setpriv: ", StringComparison.Ordinal))
        {
            // A sandbox that forbids prctl(PR_SET_PDEATHSIG): start cloudflared directly from now on (under
            // systemd the unit's control group still guarantees no orphan).
            _setprivRefused = true;
        }

        var redacted = e with
        {
            Message = _redactor.Redact(e.Message),
            Fields = [.. e.Fields.Select(f => new KeyValuePair<string, string>(f.Key, _redactor.Redact(f.Value)))],
        };
        ConnectorLog.Child(_logger, CloudflaredProblems.Level(redacted), redacted);
        if (CloudflaredProblems.Describe(redacted) is { } problem)
        {
            child.Problem = problem;
            if (child == _current && State is ConnectorState.Starting or ConnectorState.Disconnected)
            {
                Set(State, $"{(State == ConnectorState.Starting ? StartingStatus : "cloudflared lost its edge connections; it is reconnecting")}: {problem}");
            }
        }
    }

    private void OnChildReady(CloudflaredChild child, bool ready)
    {
        if (child != _current || child.StopRequested)
        {
            // A rotation's new child (its readiness is awaited directly) or one on its way out.
            return;
        }

        if (ready && State != ConnectorState.Connected)
        {
            Set(ConnectorState.Connected, ConnectedStatus);
            ConnectorLog.Ready(_logger);
        }
        else if (!ready && State == ConnectorState.Connected && !child.Exited.IsCompleted)
        {
            Set(ConnectorState.Disconnected, "cloudflared lost its edge connections; it is reconnecting");
            ConnectorLog.NotReady(_logger);
        }
    }

    /// <summary>
    /// Reads the binary's version when it was not read yet or the binary changed. False when stopping; a too old
    /// or unusable binary is waited for (its replacement is noticed by <see cref="WaitForBinaryChangeAsync"/>).
    /// </summary>
    private async Task<bool> EnsureSupportedAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var binary = Snapshot().Binary;
            var fingerprint = Fingerprint(binary);
            if (_versionChecked && fingerprint == _fingerprint)
            {
                return true;
            }

            if (_fingerprint is not null && fingerprint != _fingerprint)
            {
                ConnectorLog.BinaryChanged(_logger, binary);
            }

            _fingerprint = fingerprint;
            _versionChecked = false;
            var (version, output, failure) = await ReadVersionAsync(binary, stopping).ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
            {
                return false;
            }

            if (failure is not null)
            {
                ConnectorLog.VersionFailed(_logger, binary, failure);
                Set(ConnectorState.ConfigurationError, $"cannot run {binary} --version: {failure}; waiting for the binary to change");
                // It may be a passing failure (no memory, say): try again after the long backoff at the latest.
                await PauseAsync(Snapshot().ConfigErrorBackoff, stopping).ConfigureAwait(false);
                _fingerprint = null;
                continue;
            }

            if (version is null)
            {
                ConnectorLog.VersionUnknown(_logger, _redactor.Redact(output));
                Version = null;
            }
            else if (!version.Value.Supported)
            {
                var problem = CloudflaredVersion.TooOld(version.Value.ToString(), binary);
                ConnectorLog.Unsupported(_logger, version.Value.ToString(), CloudflaredVersion.Minimum.ToString(), problem);
                Set(ConnectorState.Unsupported, problem);
                if (!await WaitForBinaryChangeAsync(stopping).ConfigureAwait(false))
                {
                    return false;
                }

                continue;
            }
            else
            {
                Version = version;
            }

            _versionChecked = true;
            return true;
        }

        return false;
    }

    /// <summary><c>binary --version</c> in the child's environment; the release, or null with the text it printed, or why it failed.</summary>
    public static async Task<(CloudflaredVersion? Version, string Output, string? Failure)> ReadVersionAsync(string binary, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            var result = await ChildLauncher.Command(binary).WithArguments(["--version"]).WithEnvironmentVariables(CloudflaredArguments.EnvironmentRemovals())
                .ExecuteBufferedAsync(timeout.Token).ConfigureAwait(false);
            var output = (result.StandardOutput + result.StandardError).Trim();
            var first = output.Split('\n')[0].Trim();
            return result.ExitCode == 0
                ? (CloudflaredVersion.FromVersionOutput(output), first, null)
                : (null, first, $"exit {result.ExitCode}: {first}");
        }
        catch (Exception ex) when (ex is OperationCanceledException or Win32Exception or InvalidOperationException)
        {
            return (null, "", cancellationToken.IsCancellationRequested ? "cancelled" : ex is OperationCanceledException ? "no answer within 15 s" : ex.Message);
        }
    }

    /// <summary>Waits until the binary at <see cref="CloudflaredOptions.Binary"/> is another file; false when stopping.</summary>
    private async Task<bool> WaitForBinaryChangeAsync(CancellationToken stopping)
    {
        var options = Snapshot();
        var before = _fingerprint;
        using var timer = new PeriodicTimer(options.BinaryPollInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                if (Fingerprint(options.Binary) != before)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        return false;
    }

    /// <summary>Waits <paramref name="delay"/>, or less when a restart is asked for, the binary changes or we stop.</summary>
    private async Task PauseAsync(TimeSpan delay, CancellationToken stopping)
    {
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var waits = new[]
        {
            Task.Delay(delay, _time, wake.Token),
            ReplaceRequested,
            WaitForBinaryChangeAsync(wake.Token),
        };
        await Task.WhenAny(waits).ConfigureAwait(false);
        await wake.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>Identifies the file (a package upgrade replaces it: new size, times or inode birth).</summary>
    private static string Fingerprint(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target)
            {
                info = target;
            }

            return info.Exists ? $"{info.FullName}:{info.Length}:{info.LastWriteTimeUtc.Ticks}:{info.CreationTimeUtc.Ticks}" : "missing";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "unreadable";
        }
    }

    private void Set(ConnectorState state, string status)
    {
        bool stateChanged, statusChanged;
        lock (_sync)
        {
            // Children report from their own threads; the events are raised outside the lock.
            statusChanged = Status != status;
            stateChanged = State != state;
            Status = status;
            State = state;
        }

        if (stateChanged)
        {
            StateChanged?.Invoke(state);
        }

        if (statusChanged)
        {
            StatusChanged?.Invoke(status);
        }
    }

    public void Dispose() => _ready.Dispose();

    private static string Format(TimeSpan value) => value.TotalSeconds < 60
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.#}s")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value.TotalMinutes:0.#}m");
}
