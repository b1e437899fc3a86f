using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Connector;

/// <summary>
/// The stand-in against the facts about the real cloudflared it models (shared/spec/cloudflared.md experiments E1-E11
/// and cloudflared's source at 2026.8.2). When one of these fails, the stand-in has stopped telling the truth and the
/// connector tests that rely on it prove nothing.
/// </summary>
public sealed partial class FakeCloudflaredTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly string _token;

    public FakeCloudflaredTests()
    {
        _token = CloudflaredSupervisorTests.NewToken();
        _directory.Write("tunnel-token", _token + "\n");
        _directory.Write("cloudflared.yml", "{}\n");
    }

    private string[] Tunnel(params string[] after) =>
        ["tunnel", "--no-autoupdate", "--config", _directory.File("cloudflared.yml"), "--metrics", "127.0.0.1:0", "--output", "json", .. after];

    private string[] Run(params string[] before) =>
        [.. Tunnel(before), "run", "--token-file", _directory.File("tunnel-token"), "--url", "http://127.0.0.1:9"];

    private Process Launch(IEnumerable<string> args, Dictionary<string, string>? environment = null, string? preamble = null)
    {
        // The stand-in starts with every signal at its default, as systemd starts a service, whatever this test run
        // inherited: under nohup SIGHUP arrives ignored, and a Go program that never asks for SIGHUP (cloudflared)
        // keeps ignoring it, so the SIGHUP case would wait for an exit that cannot come. A preamble may then set
        // dispositions of its own (trap '' INT: a background job).
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var arg in new[] { "--default-signal", "sh", "-c", (preamble is null ? "" : preamble + "; ") + "exec \"$@\"", "stand-in", StandIn.Binary }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("TUNNEL_TOKEN");
        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        return Process.Start(start)!;
    }

    private async Task<(int Code, string Out, string Err)> ExecAsync(IEnumerable<string> args, Dictionary<string, string>? environment = null)
    {
        using var process = Launch(args, environment);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(180));
        return (process.ExitCode, await output, await error);
    }

    /// <summary>A running stand-in whose stderr is collected; waits until it has registered.</summary>
    private sealed class Running : IAsyncDisposable
    {
        private readonly StringBuilder _stderr = new();

        public Running(Process process)
        {
            Process = process;
            process.ErrorDataReceived += (_, e) =>
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            };
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        public async Task WaitForAsync(string text)
        {
            // A hang limit, not a timing expectation: on a starved host (load average 40 on 2 cores, seen in CI)
            // the stand-in's Kestrel took 57 s to open its metrics listener.
            var deadline = DateTime.UtcNow.AddSeconds(180);
            while (!Stderr.Contains(text, StringComparison.Ordinal))
            {
                Assert.False(Process.HasExited, Stderr);
                Assert.True(DateTime.UtcNow < deadline, $"no \"{text}\":\n{Stderr}");
                await Task.Delay(20);
            }
        }

        public async Task<int> ExitAsync()
        {
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(180));
            return Process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!Process.HasExited)
            {
                Process.Kill();
                await Process.WaitForExitAsync();
            }

            Process.Dispose();
        }
    }

    [Theory]
    [InlineData("--url", "http://127.0.0.1:1")]
    [InlineData("--ha-connections", "2")]
    [InlineData("--pidfile", "/tmp/cloudflared.pid")]
    [InlineData("--grace-period", "25s")]
    [InlineData("--protocol", "http2")]
    public async Task Tunnel_level_flags_are_accepted_before_run(string flag, string value)
    {
        var (code, output, _) = await ExecAsync([.. Tunnel(flag, value), "run", "--help"]);
        Assert.Equal(0, code);
        Assert.StartsWith("NAME:", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--token-file", "x", "run" }, "Incorrect Usage. flag provided but not defined: -token-file")]
    [InlineData(new[] { "run", "--grace-period", "5s" }, "Incorrect Usage: flag provided but not defined: -grace-period")]
    [InlineData(new[] { "--grace-period", "25", "run" }, "Incorrect Usage. invalid value \"25\" for flag -grace-period: parse error")]
    public async Task A_misplaced_or_malformed_flag_prints_a_large_usage_naming_it_with_the_token_and_exits_0(string[] args, string first)
    {
        var (code, output, error) = await ExecAsync(["tunnel", .. args], new Dictionary<string, string> { ["TUNNEL_TOKEN"] = _token });
        Assert.Equal(0, code);
        Assert.Empty(error);
        Assert.StartsWith(first, output, StringComparison.Ordinal);
        Assert.True(output.Length > 8000, $"{output.Length} bytes of usage");
        if (args[0] == "run")
        {
            // The run help shows TUNNEL_TOKEN's value as --token's default (spec E1e).
            Assert.Contains(_token, output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("2024.12.2", "--output")]
    [InlineData("2025.6.0", "--output")]
    [InlineData("2026.3.0", "--no-prechecks")]
    public async Task An_older_release_rejects_the_flags_added_after_it(string version, string flag)
    {
        var (code, output, _) = await ExecAsync(Run("--no-prechecks"), new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = version });
        Assert.Equal(0, code);
        Assert.StartsWith($"Incorrect Usage. flag provided but not defined: -{flag[2..]}", output, StringComparison.Ordinal);
        Assert.Equal($"cloudflared version {version} ", (await ExecAsync(["--version"], new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = version })).Out[..(21 + version.Length)]);
    }

    [Fact]
    public async Task Release_2024_12_2_does_not_know_token_file()
    {
        var (_, output, _) = await ExecAsync([.. Tunnel(), "run", "--token-file", "x"], new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2024.12.2" });
        Assert.StartsWith("Incorrect Usage. flag provided but not defined: -output", output, StringComparison.Ordinal);
        (_, output, _) = await ExecAsync(["tunnel", "run", "--token-file", "x"], new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2024.12.2" });
        Assert.StartsWith("Incorrect Usage: flag provided but not defined: -token-file", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--protocol", "foo", "unknown protocol foo")]
    [InlineData("--grace-period", "4m", "grace-period must be equal or less than 3m0s")]
    [InlineData("--edge-ip-version", "5", "invalid value for edge-ip-version: 5")]
    public async Task A_bad_value_is_a_fatal_error_with_exit_1(string flag, string value, string message)
    {
        var (code, _, error) = await ExecAsync(Run(flag, value));
        Assert.Equal(1, code);
        Assert.EndsWith(message, error.TrimEnd().Split('\n')[^1].Split(',')[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bogus_environment_twin_of_a_flag_makes_it_exit_0_without_a_word()
    {
        var (code, output, error) = await ExecAsync(Run(), new Dictionary<string, string> { ["SSH_IDLE_TIMEOUT"] = "bogus" });
        Assert.Equal(0, code);
        Assert.Empty(output);
        Assert.Empty(error);
    }

    [Theory]
    [InlineData("""{"a":"acct","t":"not-a-uuid","s":"AAAA"}""")]
    [InlineData("""{"a":"acct","t":"6f6c1b0e-8a0e-4c56-9d0b-2f4b6a1e3c7d","s":"not base64"}""")]
    public async Task A_token_cloudflared_cannot_parse_exits_255(string json)
    {
        _directory.Write("tunnel-token", Convert.ToBase64String(Encoding.UTF8.GetBytes(json)));
        var (code, _, error) = await ExecAsync(Run());
        Assert.Equal(255, code);
        Assert.StartsWith("Provided Tunnel token is not valid.", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"a":"acct","s":"AAAA"}""")]
    public async Task A_token_without_a_tunnel_id_runs_as_tunnel_zero_and_never_connects(string json)
    {
        _directory.Write("tunnel-token", Convert.ToBase64String(Encoding.UTF8.GetBytes(json)));
        await using var running = new Running(Launch(Run()));
        await running.WaitForAsync("\"tunnelID\":\"00000000-0000-0000-0000-000000000000\"");
        await running.WaitForAsync("Unauthorized");
        Assert.DoesNotContain("Registered tunnel connection", running.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Its_output_is_a_real_start_with_fragmented_events_a_metrics_page_and_its_config()
    {
        await using var running = new Running(Launch(Run()));
        await running.WaitForAsync("Registered tunnel connection\",\"protocol\":\"quic\",\"time\":\"" + DateTime.UtcNow.Year);
        await running.WaitForAsync("\"connIndex\":3");
        var lines = running.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 20, running.Stderr);
        // Two events of parallel goroutines, interleaved at json-iterator's write boundaries.
        Assert.Contains(lines, l => l.StartsWith("{\"level\":\"info\"{", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith(",\"", StringComparison.Ordinal));
        var metricsLine = Assert.Single(lines, l => l.Contains("Starting metrics server on", StringComparison.Ordinal));
        var address = MetricsAddress().Match(metricsLine).Groups[1].Value;
        // The listener opens after the DNS lookups: lines come first (spec 3.2).
        Assert.True(Array.IndexOf(lines, metricsLine) >= 5);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://{address}/metrics"));
        Assert.True(metrics.Split('\n').Length > 150, metrics);
        Assert.Contains("\"service\":\"http://127.0.0.1:9\"", await http.GetStringAsync(new Uri($"http://{address}/config")), StringComparison.Ordinal);
        using var ready = await http.GetAsync(new Uri($"http://{address}/ready"));
        Assert.Contains("\"connectorId\"", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prechecks_write_a_multi_line_box_unless_switched_off()
    {
        await using var running = new Running(Launch(Run()));
        await running.WaitForAsync("precheck complete");
        Assert.True(running.Stderr.Split('\n').Count(l => l.Contains("\"message\":\"|", StringComparison.Ordinal)) >= 5, running.Stderr);
    }

    [Theory]
    [InlineData(2, 2, 130)]
    [InlineData(15, 15, 143)]
    [InlineData(15, 2, 130)]
    [InlineData(3, 0, 2)]
    [InlineData(1, 0, 129)]
    [InlineData(2, 0, 0)]
    [InlineData(15, 0, 0)]
    public async Task Signals_end_it_as_they_end_the_real_one(int first, int second, int code)
    {
        // For a second signal the edge is slow to let the connections go, so it arrives while cloudflared drains.
        var drain = second == 0 ? "100" : "20000";
        await using var running = new Running(Launch(Run(), new Dictionary<string, string> { ["FAKE_CLOUDFLARED_EDGE_CLOSE_MS"] = drain }));
        await running.WaitForAsync("\"connIndex\":3");
        Assert.Equal(0, Kill(running.Process.Id, first));
        if (second != 0)
        {
            await running.WaitForAsync("Unregistered tunnel connection");
            Assert.Equal(0, Kill(running.Process.Id, second));
        }

        Assert.Equal(code, await running.ExitAsync());
    }

    [Fact]
    public async Task A_SIGINT_ignored_at_exec_is_taken_back_as_Go_does()
    {
        // A script's background job inherits SIGINT ignored; Go's signal.Notify re-enables it (the stand-in must
        // too, or `bash scripts/test.sh &` sees every graceful stop end in a kill).
        await using var running = new Running(Launch(Run(), preamble: "trap '' INT"));
        await running.WaitForAsync("\"connIndex\":3");
        Assert.Equal(0, Kill(running.Process.Id, 2));
        Assert.Equal(0, await running.ExitAsync());
        Assert.Contains("Initiating graceful shutdown due to signal interrupt", running.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"Starting metrics server on ([0-9.:]+)/metrics")]
    private static partial Regex MetricsAddress();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public void Dispose() => _directory.Dispose();
}
