using System.Text.Json.Nodes;
using McpTunnel.Connector;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Connector;

/// <summary>The supervisor against a stand-in that behaves like cloudflared (tests/FakeCloudflared).</summary>
public sealed class CloudflaredSupervisorTests : IDisposable
{
    private static readonly string FakeBinary = FindFake();
    private readonly TempDirectory _directory = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly List<int> _pids = [];

    private static string FindFake()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var bin = Path.Combine(directory.FullName, "tests", "FakeCloudflared", "bin");
            if (Directory.Exists(bin))
            {
                return Directory.EnumerateFiles(bin, "fake-cloudflared", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).First();
            }
        }

        throw new FileNotFoundException("tests/FakeCloudflared has not been built");
    }

    /// <summary>A connector token shaped like cloudflared's: base64 of {"a","t","s"}.</summary>
    public static string NewToken() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(
        $$"""{"a":"acct","t":"{{Guid.NewGuid()}}","s":"{{Convert.ToBase64String(Guid.NewGuid().ToByteArray())}}"}"""));

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private CloudflaredOptions Options(string mode, string? token = null, TimeSpan? grace = null)
    {
        var tokenFile = _directory.Write("tunnel-token", (token ?? NewToken()) + "\n");
        var wrapper = _directory.Write("cloudflared", $"#!/bin/sh\nexport FAKE_CLOUDFLARED_MODE={mode}\nexport FAKE_CLOUDFLARED_RECORD={_directory.File("record.json")}\nexec {FakeBinary} \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_000_000);
        return new CloudflaredOptions
        {
            Binary = wrapper,
            GatewayUrl = new Uri("http://127.0.0.1:8080"),
            MetricsAddress = $"127.0.0.1:{FreePort()}",
            ConfigFile = _directory.Write("cloudflared.yml", "{}\n"),
            Token = new TokenSource(tokenFile, "test token file"),
            GracePeriod = grace ?? TimeSpan.FromSeconds(2),
            KillMargin = TimeSpan.FromMilliseconds(500),
            ReadyPollInterval = TimeSpan.FromMilliseconds(100),
            RestartBackoffInitial = TimeSpan.FromMilliseconds(100),
            ConfigErrorBackoff = TimeSpan.FromHours(1),
        };
    }

    private JsonObject Record() => TryRecord() ?? throw new InvalidOperationException("record.json is missing or incomplete");

    /// <summary>
    /// The stand-in's record, or null while it does not exist or is still being written: the stand-in writes it
    /// in place (truncate, then write), so a reader can see it empty or cut short (seen under load).
    /// </summary>
    private JsonObject? TryRecord() => ReadRecord(_directory.File("record.json"));

    internal static JsonObject? ReadRecord(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (Exception ex) when (ex is IOException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token).ContinueWith(t => { if (t.IsCanceled) throw new TimeoutException($"timed out waiting for {what}"); }, TaskScheduler.Default);
        }
    }

    private async Task<(CloudflaredSupervisor Supervisor, Task Run, CancellationTokenSource Stop)> StartAsync(CloudflaredOptions options, TimeProvider? time = null)
    {
        var supervisor = new CloudflaredSupervisor(options, _logs.CreateLogger("connector"), time);
        var stop = new CancellationTokenSource();
        var run = Task.Run(() => supervisor.RunAsync(stop.Token));
        await WaitUntil(() => TryRecord() is not null, "cloudflared to start and write its record");
        _pids.Add(Record()["pid"]!.GetValue<int>());
        return (supervisor, run, stop);
    }

    [Fact]
    public void Tunnel_flags_go_before_run_and_the_token_never_goes_into_argv()
    {
        var options = Options("normal") with { Protocol = "http2", EdgeIpVersion = "4" };
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
    public async Task It_starts_cloudflared_with_a_scrubbed_environment_and_reports_ready()
    {
        var leak = $"TUNNEL_TEST_LEAK_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(leak, "x");
        try
        {
            var token = NewToken();
            var (supervisor, run, stop) = await StartAsync(Options("normal", token));
            await WaitUntil(() => supervisor.Ready, "/ready to answer 200");
            var record = Record();
            Assert.Equal(token, record["token"]!.GetValue<string>());
            var env = record["env"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
            Assert.DoesNotContain(leak, env);
            Assert.DoesNotContain(env, n => n.StartsWith("TUNNEL_", StringComparison.Ordinal) || n == "NOTIFY_SOCKET");
            Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared: Registered tunnel connection", StringComparison.Ordinal));
            Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared ready", StringComparison.Ordinal));

            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(ConnectorState.Stopped, supervisor.State);
            Assert.Equal(0, supervisor.LastExitCode);
            Assert.Contains(_logs.Messages, m => m.Contains("Initiating graceful shutdown", StringComparison.Ordinal));
            supervisor.Dispose();
        }
        finally
        {
            Environment.SetEnvironmentVariable(leak, null);
        }
    }

    [Fact]
    public async Task A_bad_token_is_a_configuration_problem_with_a_long_backoff_not_a_hot_loop()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (supervisor, run, stop) = await StartAsync(Options("normal", token: "not-a-token"), time);
        await WaitUntil(() => supervisor.State == ConnectorState.ConfigurationError, "the configuration error");
        Assert.Equal(255, supervisor.LastExitCode);
        Assert.Equal(1, supervisor.Restarts);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("configuration problem code=255", StringComparison.Ordinal));

        // A negative assertion needs a span to happen in: the backoff waits on the fake clock, which does not move,
        // so a supervisor that wrongly used real time or no backoff would restart within RestartBackoffInitial
        // (100 ms); 300 ms gives it three such chances to show.
        await Task.Delay(300);
        Assert.Equal(1, supervisor.Restarts); // nothing happens until the long backoff has passed
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromHours(1));
            return supervisor.Restarts >= 2;
        }, "the retry after the backoff");

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        supervisor.Dispose();
    }

    [Fact]
    public async Task An_exit_0_nobody_asked_for_is_a_configuration_problem_and_its_usage_text_is_redacted()
    {
        var token = NewToken();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        Environment.SetEnvironmentVariable("TUNNEL_TOKEN", null);
        var (supervisor, run, stop) = await StartAsync(Options("exit0", token), time);
        await WaitUntil(() => supervisor.State == ConnectorState.ConfigurationError, "the configuration error");
        Assert.Equal(0, supervisor.LastExitCode);
        Assert.Contains(_logs.Lines, l => l.Level == LogLevel.Error && l.Message.Contains("exited 0 without being asked to stop", StringComparison.Ordinal));
        Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared: Incorrect Usage", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Messages, m => m.Contains(token, StringComparison.Ordinal));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        supervisor.Dispose();
    }

    [Fact]
    public async Task A_crashing_cloudflared_is_restarted_with_growing_backoff()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (supervisor, run, stop) = await StartAsync(Options("crash"), time);
        await WaitUntil(() => supervisor.State == ConnectorState.Backoff, "the first backoff");
        Assert.Equal(1, supervisor.LastExitCode);
        // The backoff waits on the (fake) clock: each advance lets one more restart happen.
        await WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromMinutes(1));
            return supervisor.Restarts >= 3;
        }, "three restarts");
        Assert.Equal(1, supervisor.LastExitCode);

        var backoffs = Enumerable.Range(1, 10).Select(supervisor.Backoff).ToList();
        Assert.InRange(backoffs[0].TotalMilliseconds, 100, 125);
        Assert.InRange(backoffs[3].TotalMilliseconds, 800, 1000);
        Assert.All(backoffs, b => Assert.True(b <= TimeSpan.FromMinutes(1.25)));

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        supervisor.Dispose();
    }

    [Fact]
    public async Task A_child_that_ignores_the_stop_signal_is_killed_after_the_grace_period()
    {
        var (supervisor, run, stop) = await StartAsync(Options("ignore-first-sigterm", grace: TimeSpan.FromMilliseconds(500)));
        await WaitUntil(() => supervisor.Ready, "ready");
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Contains(_logs.Messages, m => m.StartsWith("cloudflared did not stop within", StringComparison.Ordinal));
        supervisor.Dispose();
    }

    [Fact]
    public async Task The_token_printed_by_cloudflared_is_redacted_from_our_log()
    {
        var token = NewToken();
        var (supervisor, run, stop) = await StartAsync(Options("print-token", token));
        await WaitUntil(() => _logs.Messages.Any(m => m.Contains("Settings:", StringComparison.Ordinal)), "the settings line");
        Assert.DoesNotContain(_logs.Messages, m => m.Contains(token, StringComparison.Ordinal));
        Assert.Contains(_logs.Messages, m => m.Contains("token:[REDACTED]", StringComparison.Ordinal));
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        supervisor.Dispose();
    }

    [Fact]
    public async Task A_restart_request_brings_cloudflared_back_with_the_new_token()
    {
        var (supervisor, run, stop) = await StartAsync(Options("normal"));
        await WaitUntil(() => supervisor.Ready, "ready");
        var first = Record()["pid"]!.GetValue<int>();
        var rotated = NewToken();
        _directory.Write("tunnel-token", rotated + "\n");
        File.Delete(_directory.File("record.json"));

        supervisor.RequestRestart();
        await WaitUntil(() => TryRecord()?["token"]?.GetValue<string>() == rotated, "the restart with the new token");
        _pids.Add(Record()["pid"]!.GetValue<int>());
        Assert.NotEqual(first, Record()["pid"]!.GetValue<int>());
        Assert.False(Directory.Exists($"/proc/{first}"));

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        supervisor.Dispose();
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
