using System.Text.Json.Nodes;
using McpTunnel.Connector;
using McpTunnel.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Connector;

/// <summary>The supervisor against the stand-in, a model of cloudflared (tests/FakeCloudflared).</summary>
public sealed class CloudflaredSupervisorTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly List<int> _pids = [];

    /// <summary>A connector token shaped like cloudflared's: base64 of {"a","t","s"}.</summary>
    public static string NewToken() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(
        $$"""{"a":"{{Guid.NewGuid():N}}","t":"{{Guid.NewGuid()}}","s":"{{Convert.ToBase64String(Guid.NewGuid().ToByteArray())}}"}"""));

    private string Record => _directory.File("record.json");

    /// <summary>
    /// Options for a stand-in started through a wrapper with <paramref name="knobs"/>. The metrics address is the
    /// product's default (a port chosen per start) unless a test fixes one.
    /// </summary>
    private CloudflaredOptions Options(Dictionary<string, string>? knobs = null, string? token = null, TimeSpan? grace = null, string? preamble = null)
    {
        var tokenFile = _directory.Write("tunnel-token", (token ?? NewToken()) + "\n");
        var all = new Dictionary<string, string>(knobs ?? []) { ["FAKE_CLOUDFLARED_RECORD"] = Record };
        return new CloudflaredOptions
        {
            Binary = StandIn.Wrapper(_directory, all, preamble),
            GatewayUrl = new Uri("http://127.0.0.1:8080"),
            MetricsAddress = new McpTunnel.Configuration.CloudflaredConfig().MetricsAddr.ToString(),
            ConfigFile = _directory.Write("cloudflared.yml", "{}\n"),
            Token = new TokenSource(tokenFile, "test token file"),
            GracePeriod = grace ?? TimeSpan.FromSeconds(2),
            KillMargin = TimeSpan.FromMilliseconds(500),
            ReadyPollInterval = TimeSpan.FromMilliseconds(100),
            RestartBackoffInitial = TimeSpan.FromMilliseconds(100),
            ConfigErrorBackoff = TimeSpan.FromHours(1),
            WriteSecretFile = McpTunnel.Credentials.AtomicFile.Write,
        };
    }

    private static Dictionary<string, string> Knobs(params (string Key, string Value)[] knobs) => knobs.ToDictionary(k => $"FAKE_CLOUDFLARED_{k.Key}", k => k.Value);

    private JsonObject ReadRecord() => JsonNode.Parse(File.ReadAllText(Record))!.AsObject();

    private static async Task WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(20);
        }
    }

    private (CloudflaredSupervisor Supervisor, Task Run, CancellationTokenSource Stop) Start(CloudflaredOptions options, TimeProvider? time = null)
    {
        var supervisor = new CloudflaredSupervisor(options, _logs.CreateLogger("connector"), time);
        var stop = new CancellationTokenSource();
        var run = Task.Run(() => supervisor.RunAsync(stop.Token));
        return (supervisor, run, stop);
    }

    /// <summary>Starts and waits until the stand-in has recorded what it was given.</summary>
    private async Task<(CloudflaredSupervisor Supervisor, Task Run, CancellationTokenSource Stop)> StartedAsync(CloudflaredOptions options, TimeProvider? time = null)
    {
        var started = Start(options, time);
        await WaitUntil(() => File.Exists(Record), "cloudflared to start");
        _pids.Add(ReadRecord()["pid"]!.GetValue<int>());
        return started;
    }

    private static async Task StopAsync((CloudflaredSupervisor Supervisor, Task Run, CancellationTokenSource Stop) started)
    {
        await started.Stop.CancelAsync();
        await started.Run.WaitAsync(TimeSpan.FromSeconds(30));
        started.Supervisor.Dispose();
        started.Stop.Dispose();
    }

    private IEnumerable<LogLine> Child => _logs.Lines.Where(l => l.Message.StartsWith("cloudflared: ", StringComparison.Ordinal));

    /// <summary>A ping_group_range that admits every group, so the ICMP proxy check passes (the host's may not).</summary>
    private string OpenPingRange() => _directory.Write("ping_group_range", "0\t2147483647\n");

    [Fact]
    public void Tunnel_flags_go_before_run_and_the_token_never_goes_into_argv()
    {
        var options = Options() with { Protocol = "http2", EdgeIpVersion = "4" };
        var args = CloudflaredArguments.Build(options);
        var run = args.ToList().IndexOf("run");
        Assert.Equal("tunnel", args[0]);
        Assert.Equal(["--token-file", options.Token.Path, "--url", "http://127.0.0.1:8080"], args.Skip(run + 1));
        foreach (var flag in new[] { "--no-autoupdate", "--config", "--metrics", "--output", "--grace-period", "--protocol", "--edge-ip-version", "--management-diagnostics=false" })
        {
            Assert.InRange(args.ToList().IndexOf(flag), 1, run - 1);
        }

        Assert.DoesNotContain(args, a => a.StartsWith("eyJ", StringComparison.Ordinal) || a == "--token");
    }

    [Fact]
    public void An_older_supported_release_gets_only_the_flags_it_knows_and_an_unknown_one_gets_all()
    {
        var options = Options();
        Assert.DoesNotContain("--output", CloudflaredArguments.Build(options, CloudflaredVersion.Parse("2025.4.0")));
        Assert.DoesNotContain("--no-prechecks", CloudflaredArguments.Build(options, CloudflaredVersion.Parse("2026.3.0")));
        Assert.Contains("--output", CloudflaredArguments.Build(options, CloudflaredVersion.Parse("2026.3.0")));
        Assert.Contains("--no-prechecks", CloudflaredArguments.Build(options, CloudflaredVersion.Parse("2026.11.2")));
        Assert.Contains("--no-prechecks", CloudflaredArguments.Build(options, version: null));
        Assert.Contains("--output", CloudflaredArguments.Build(options, version: null));
    }

    [Fact]
    public async Task It_starts_cloudflared_with_an_allow_listed_environment_and_reports_ready()
    {
        var token = NewToken();
        var started = await StartedAsync(Options(token: token));
        await WaitUntil(() => started.Supervisor.Ready, "/ready to answer 200");
        var record = ReadRecord();
        Assert.Equal(token, record["token"]!.GetValue<string>());
        // Only the allow-list reaches the child (plus the wrapper's own knobs and what /bin/sh sets itself).
        var env = record["env"]!.AsArray().Select(n => n!.GetValue<string>())
            .Where(n => !n.StartsWith("FAKE_CLOUDFLARED_", StringComparison.Ordinal) && n is not ("PWD" or "OLDPWD" or "SHLVL" or "_")).ToList();
        Assert.All(env, name => Assert.True(
            name is "PATH" or "HOME" or "LANG" or "LANGUAGE" or "TZ" or "TMPDIR" or "SSL_CERT_FILE" or "SSL_CERT_DIR"
                or "http_proxy" or "HTTP_PROXY" or "https_proxy" or "HTTPS_PROXY" or "no_proxy" or "NO_PROXY" or "all_proxy" or "ALL_PROXY"
            || name.StartsWith("LC_", StringComparison.Ordinal), $"{name} reached cloudflared"));
        Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared: Registered tunnel connection", StringComparison.Ordinal));
        Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared ready", StringComparison.Ordinal));
        // A directory that always exists: the caller's may be unreadable for the service user (sudo -u from /root).
        Assert.Equal("/", record["cwd"]!.GetValue<string>());

        await StopAsync(started);
        Assert.Equal(ConnectorState.Stopped, started.Supervisor.State);
        Assert.Equal(0, started.Supervisor.LastExitCode);
        Assert.Contains(_logs.Messages, m => m.Contains("Initiating graceful shutdown", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_child_started_with_SIGINT_ignored_still_stops_gracefully_on_one_SIGINT()
    {
        // A script's background job (bash scripts/test.sh &) starts everything with SIGINT ignored. The real
        // cloudflared takes SIGINT back (Go's signal.Notify), so one graceful SIGINT stops it with 0, not a kill.
        var started = await StartedAsync(Options(preamble: "trap '' INT"));
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        await StopAsync(started);
        Assert.Equal(0, started.Supervisor.LastExitCode);
        Assert.DoesNotContain(_logs.Messages, m => m.Contains("did not stop within", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_bad_token_is_a_configuration_problem_with_a_long_backoff_not_a_hot_loop()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var started = await StartedAsync(Options(token: "not-a-token"), time);
        var supervisor = started.Supervisor;
        await WaitUntil(() => supervisor.State == ConnectorState.ConfigurationError, "the configuration error");
        Assert.Equal(255, supervisor.LastExitCode);
        Assert.Equal(0, supervisor.Restarts);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("configuration problem", StringComparison.Ordinal) && l.Message.Contains("255", StringComparison.Ordinal));
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message == "cloudflared: Provided Tunnel token is not valid.");

        // Nothing happens until the long backoff has passed (the fake clock has not moved; 300 ms lets a loop show).
        await Task.Delay(300);
        Assert.Equal(0, supervisor.Restarts);
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromHours(1));
            return supervisor.Restarts >= 1;
        }, "the retry after the backoff");

        await StopAsync(started);
    }

    [Fact]
    public async Task A_rejected_command_line_is_said_once_with_the_flag_and_without_the_usage_text()
    {
        // A build that cannot tell its version (DEV) from a tree older than --no-prechecks: the usage text comes
        // back, with the token in it (here from TUNNEL_TOKEN, which the real help prints as --token's default).
        var token = NewToken();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options(Knobs(("VERSION", "DEV"), ("SOURCE", "2026.3.0")), token, preamble: $"export TUNNEL_TOKEN={token}");
        var started = Start(options, time);
        var supervisor = started.Supervisor;
        await WaitUntil(() => supervisor.State == ConnectorState.ConfigurationError, "the configuration error");
        var errors = _logs.Lines.Where(l => l.Level >= LogLevel.Error).ToList();
        var rejected = Assert.Single(errors, l => l.Message.Contains("flag provided but not defined: -no-prechecks", StringComparison.Ordinal));
        Assert.Contains("rejected its command line", rejected.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_logs.Messages, m => m.Contains(token, StringComparison.Ordinal));
        // One line about it, not the usage text (11-15 KB) line by line.
        Assert.DoesNotContain(_logs.Messages, m => m.Contains("SUBCOMMAND OPTIONS", StringComparison.Ordinal) || m.Contains("--no-autoupdate", StringComparison.Ordinal));

        // The same binary would refuse the same command line again: no retry until it changes (300 ms lets a loop show).
        time.Advance(TimeSpan.FromHours(2));
        await Task.Delay(300);
        Assert.Equal(0, supervisor.Restarts);
        Assert.Single(_logs.Lines, l => l.Message.Contains("-no-prechecks", StringComparison.Ordinal));

        // A new binary (the package upgraded) is tried at once.
        StandIn.Wrapper(_directory, new Dictionary<string, string>(Knobs(("PING_GROUP_RANGE", OpenPingRange()))) { ["FAKE_CLOUDFLARED_RECORD"] = Record });
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromSeconds(10));
            return supervisor.Ready;
        }, "the new binary to connect");
        _pids.Add(ReadRecord()["pid"]!.GetValue<int>());
        await StopAsync(started);
    }

    [Fact]
    public async Task A_cloudflared_older_than_the_minimum_is_refused_once_and_waited_for_not_restarted()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var started = Start(Options(Knobs(("VERSION", "2024.12.2"))), time);
        var supervisor = started.Supervisor;
        await WaitUntil(() => _logs.Lines.Any(l => l.Level == LogLevel.Error && l.Message.Contains("2024.12.2", StringComparison.Ordinal)), "the version error");
        var error = Assert.Single(_logs.Lines, l => l.Level == LogLevel.Error);
        Assert.Contains("2025.4.0", error.Message, StringComparison.Ordinal);
        Assert.Contains("--token-file", error.Message, StringComparison.Ordinal);
        Assert.False(supervisor.Ready);
        Assert.Contains("2024.12.2", supervisor.Status, StringComparison.Ordinal);
        Assert.Contains("2025.4.0", supervisor.Status, StringComparison.Ordinal);

        // It never started `tunnel run`, and an hour later it still has not (300 ms lets a loop show).
        time.Advance(TimeSpan.FromHours(1));
        await Task.Delay(300);
        Assert.False(File.Exists(Record));
        Assert.Equal(0, supervisor.Restarts);
        Assert.Single(_logs.Lines, l => l.Level == LogLevel.Error);

        // Replacing the binary with a supported release is noticed and it connects.
        StandIn.Wrapper(_directory, new Dictionary<string, string>(Knobs(("VERSION", "2026.8.2"))) { ["FAKE_CLOUDFLARED_RECORD"] = Record });
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromSeconds(10));
            return supervisor.Ready;
        }, "the supported binary to connect");
        _pids.Add(ReadRecord()["pid"]!.GetValue<int>());
        await StopAsync(started);
    }

    [Fact]
    public async Task An_older_but_supported_cloudflared_gets_only_the_flags_it_knows_and_its_text_log_is_read()
    {
        var started = await StartedAsync(Options(Knobs(("VERSION", "2025.4.0"))));
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        var argv = ReadRecord()["argv"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.DoesNotContain("--no-prechecks", argv);
        Assert.DoesNotContain("--output", argv);
        Assert.Contains("--token-file", argv);
        // Without --output json its console format is parsed: message and fields, at their level.
        var registered = Child.Where(l => l.Message.StartsWith("cloudflared: Registered tunnel connection", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, registered.Count);
        Assert.All(registered, l => Assert.Equal(LogLevel.Information, l.Level));
        Assert.Equal("0", registered[0].Properties["connIndex"]);
        Assert.Equal("fra08", registered[0].Properties["location"]);
        await StopAsync(started);
    }

    [Fact]
    public async Task Readiness_only_ever_comes_from_our_own_child()
    {
        // A host cloudflared (or anything) answering /ready 200 on the metrics port we were told to use: our child
        // cannot bind it and exits 1 each time; that must never count as connected, nor reset the backoff.
        var builder = LoopbackApp.CreateBuilder();
        var foreign = builder.Build();
        foreign.Run(context => context.Response.WriteAsync("{\"status\":200,\"readyConnections\":4,\"connectorId\":\"00000000-0000-0000-0000-000000000000\"}"));
        await foreign.StartAsync();
        var port = LoopbackApp.Port(foreign);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options() with { MetricsAddress = $"127.0.0.1:{port}", RestartBackoffInitial = TimeSpan.FromSeconds(1) };
        var states = new List<ConnectorState>();
        var statuses = new List<string>();
        var started = Start(options, time);
        started.Supervisor.StateChanged += state =>
        {
            lock (states)
            {
                states.Add(state);
            }
        };
        started.Supervisor.StatusChanged += status =>
        {
            lock (states)
            {
                statuses.Add(status);
            }
        };
        await WaitUntil(() => started.Supervisor.State == ConnectorState.Backoff, "the first exit");
        // Three runs (each a real process start, slow on a busy machine), each ended by the taken port.
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromSeconds(5));
            return started.Supervisor.Restarts >= 2 && started.Supervisor.State == ConnectorState.Backoff;
        }, "two restarts", TimeSpan.FromSeconds(120));

        lock (states)
        {
            Assert.DoesNotContain(ConnectorState.Connected, states);
        }

        Assert.Equal(1, started.Supervisor.LastExitCode);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("address already in use", StringComparison.Ordinal));
        lock (states)
        {
            // What /readyz and STATUS said after an exit (the clock may have moved on to the next start since).
            Assert.Contains(statuses, s => s.StartsWith("cloudflared exited with 1 (", StringComparison.Ordinal) && s.Contains("in use by another process", StringComparison.Ordinal));
        }

        // The backoff kept growing (1 s, 2 s, 4 s ...): no false "connected" reset it.
        Assert.Contains(_logs.Messages, m => System.Text.RegularExpressions.Regex.IsMatch(m, @"^cloudflared exited code=1 retry_in=(4(\.\d)?|5)s$"));
        await StopAsync(started);
        await foreign.DisposeAsync();
    }

    [Fact]
    public async Task Restarts_count_restarts_not_exits_and_the_backoff_cap_includes_the_jitter()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var started = Start(Options(Knobs(("MODE", "crash"))), time);
        var supervisor = started.Supervisor;
        await WaitUntil(() => supervisor.State == ConnectorState.Backoff, "the first backoff");
        Assert.Equal(1, supervisor.LastExitCode);
        Assert.Equal(0, supervisor.Restarts); // exited once, not restarted yet
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromMinutes(1));
            return supervisor.Restarts >= 2;
        }, "two restarts");

        var backoffs = Enumerable.Range(1, 40).Select(supervisor.Backoff).ToList();
        Assert.InRange(backoffs[0].TotalMilliseconds, 100, 125);
        Assert.InRange(backoffs[3].TotalMilliseconds, 800, 1000);
        Assert.All(backoffs, b => Assert.True(b <= TimeSpan.FromMinutes(1), $"{b} is above the 1 minute cap"));
        await StopAsync(started);
    }

    [Fact]
    public async Task A_child_that_ignores_the_stop_signal_is_killed_after_the_grace_period()
    {
        var started = await StartedAsync(Options(Knobs(("MODE", "ignore-first-sigterm")), grace: TimeSpan.FromMilliseconds(500)));
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        await StopAsync(started);
        Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared did not stop within", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_token_printed_by_cloudflared_is_redacted_from_our_log()
    {
        var token = NewToken();
        var started = await StartedAsync(Options(Knobs(("MODE", "print-token")), token));
        await WaitUntil(() => _logs.Messages.Any(m => m.Contains("Settings:", StringComparison.Ordinal)), "the settings line");
        Assert.DoesNotContain(_logs.Messages, m => m.Contains(token, StringComparison.Ordinal));
        Assert.Contains(_logs.Messages, m => m.Contains("token:[REDACTED]", StringComparison.Ordinal));
        await StopAsync(started);
    }

    [Fact]
    public async Task A_restart_request_brings_cloudflared_back_with_the_new_token()
    {
        var started = await StartedAsync(Options());
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        var first = ReadRecord()["pid"]!.GetValue<int>();
        var rotated = NewToken();
        _directory.Write("tunnel-token", rotated + "\n");
        File.Delete(Record);

        started.Supervisor.RequestRestart();
        await WaitUntil(() => File.Exists(Record) && ReadRecord()["token"]?.GetValue<string>() == rotated, "the restart with the new token");
        _pids.Add(ReadRecord()["pid"]!.GetValue<int>());
        Assert.NotEqual(first, ReadRecord()["pid"]!.GetValue<int>());
        await WaitUntil(() => !Directory.Exists($"/proc/{first}") || File.ReadAllText($"/proc/{first}/stat").Contains(" Z ", StringComparison.Ordinal), "the old child to be gone");
        await StopAsync(started);
    }

    [Fact]
    public async Task A_rotation_keeps_the_old_cloudflared_until_the_new_one_is_connected_and_keeps_it_when_the_new_one_fails()
    {
        var started = await StartedAsync(Options());
        var supervisor = started.Supervisor;
        await WaitUntil(() => supervisor.Ready, "ready");
        var first = ReadRecord()["pid"]!.GetValue<int>();

        // A token cloudflared refuses: the new child exits 255, the old one keeps serving.
        _directory.Write("tunnel-token", "not-a-token\n");
        File.Delete(Record);
        supervisor.RestartForNewToken();
        await WaitUntil(() => _logs.Contains("token rotation failed"), "the failed rotation");
        _pids.Add(ReadRecord()["pid"]!.GetValue<int>());
        Assert.True(supervisor.Ready);
        Assert.Equal(first, supervisor.ProcessId);
        Assert.Contains("exited with 255", _logs.Lines.Single(l => l.Message.StartsWith("token rotation failed", StringComparison.Ordinal)).Message, StringComparison.Ordinal);
        Assert.Contains("the last replacement failed", supervisor.Status, StringComparison.Ordinal);

        // A good one: both run until the new one is connected, then only the new one.
        var rotated = NewToken();
        _directory.Write("tunnel-token", rotated + "\n");
        File.Delete(Record);
        supervisor.RestartForNewToken();
        await WaitUntil(() => File.Exists(Record) && ReadRecord()["token"]?.GetValue<string>() == rotated, "the new child");
        var second = ReadRecord()["pid"]!.GetValue<int>();
        _pids.Add(second);
        await WaitUntil(() => _logs.Contains("token rotation: the new cloudflared is connected"), "the switch");
        Assert.True(supervisor.Ready);
        Assert.Equal(second, supervisor.ProcessId);
        await WaitUntil(() => supervisor.ProcessIds.SequenceEqual([second]), "the old child to be gone");
        Assert.Equal(2, supervisor.Restarts);
        await StopAsync(started);
    }

    [Fact]
    public async Task Fields_stay_fields_fragments_are_reassembled_and_nothing_is_promoted_to_a_warning()
    {
        // The stand-in writes every JSON event in several writes and interleaves two events twice per start, as the
        // real one does (logger/console.go re-encodes each event with json-iterator, one write per key).
        var started = await StartedAsync(Options(Knobs(("PING_GROUP_RANGE", OpenPingRange()))));
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        await StopAsync(started);

        var child = Child.ToList();
        Assert.DoesNotContain(child, l => l.Level >= LogLevel.Warning);
        Assert.DoesNotContain(child, l => l.Message.Contains("{\"", StringComparison.Ordinal) || l.Message.StartsWith("cloudflared: ,", StringComparison.Ordinal));
        Assert.Single(child, l => l.Message.StartsWith("cloudflared: Generated Connector ID: ", StringComparison.Ordinal));
        Assert.Equal(2, child.Count(l => l.Message == "cloudflared: Tunnel connection curve preferences: [X25519MLKEM768 CurveP256]"));
        var registered = child.Where(l => l.Message == "cloudflared: Registered tunnel connection").ToList();
        Assert.Equal(4, registered.Count);
        Assert.Equal(["0", "1", "2", "3"], registered.Select(r => r.Properties["connIndex"]));
        Assert.All(registered, r => Assert.Equal("quic", r.Properties["protocol"]));
    }

    [Fact]
    public async Task The_sandboxed_ICMP_proxy_check_does_not_warn()
    {
        // Under the packaged unit ProcSubset=pid hides /proc/sys, so cloudflared cannot read ping_group_range and
        // logs two WARN lines per start; the ICMP proxy is of no use to this tunnel (decision 0006).
        var started = await StartedAsync(Options(Knobs(("PING_GROUP_RANGE", "/nonexistent/ping_group_range"))));
        await WaitUntil(() => started.Supervisor.Ready, "ready");
        await StopAsync(started);
        Assert.DoesNotContain(Child, l => l.Level >= LogLevel.Warning);
        Assert.Contains(Child, l => l.Level == LogLevel.Debug && l.Message.StartsWith("cloudflared: ICMP proxy feature is disabled", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_plain_fatal_line_is_an_error_and_the_status_says_the_edge_could_not_be_resolved()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var started = Start(Options(Knobs(("MODE", "exit1"))), time);
        await WaitUntil(() => started.Supervisor.State == ConnectorState.Backoff, "the exit");
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.StartsWith("cloudflared: Could not lookup srv records on _v2-origintunneld._tcp.argotunnel.com", StringComparison.Ordinal));
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message == "cloudflared: edge discovery: error looking up Cloudflare edge IPs: the DNS query failed" && l.Properties.ContainsKey("error"));
        Assert.Contains("cannot resolve the Cloudflare edge", started.Supervisor.Status, StringComparison.Ordinal);
        await StopAsync(started);
    }

    [Theory]
    [InlineData("edge-unreachable", "cannot reach the Cloudflare edge")]
    [InlineData("unauthorized", "refused the tunnel token")]
    public async Task While_not_connected_the_status_says_why_in_an_operators_words(string mode, string words)
    {
        var started = await StartedAsync(Options(Knobs(("MODE", mode))));
        await WaitUntil(() => started.Supervisor.Status.Contains(words, StringComparison.Ordinal), $"a status saying \"{words}\"");
        Assert.False(started.Supervisor.Ready);
        await StopAsync(started);
    }

    [Fact]
    public void Token_shaped_strings_are_redacted_even_when_unknown()
    {
        var redactor = new TokenRedactor();
        Assert.Equal("token=[REDACTED] ok", redactor.Redact($"token={NewToken()} ok"));
        redactor.SetToken("plain-secret-value");
        Assert.Equal("x [REDACTED] y", redactor.Redact("x plain-secret-value y"));
    }

    public void Dispose()
    {
        // Every test proves that it left no process behind.
        foreach (var pid in _pids)
        {
            Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(" Z ", StringComparison.Ordinal),
                $"cloudflared stand-in {pid} is still running");
        }

        _directory.Dispose();
    }
}
