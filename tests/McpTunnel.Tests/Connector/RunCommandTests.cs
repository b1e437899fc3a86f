using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Connector;

/// <summary>
/// <c>mcp-tunnel run</c> as a real child process (so it can get SIGHUP and SIGTERM), with the cloudflared
/// stand-in, a systemd notify socket, the health listener and a real upstream.
/// </summary>
public sealed partial class RunCommandTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private readonly StringBuilder _output = new();
    private EchoUpstream _upstream = null!;
    private Process _process = null!;
    private Socket _notify = null!;
    private readonly System.Threading.Channels.Channel<string> _notifications = System.Threading.Channels.Channel.CreateUnbounded<string>();
    private Task _drain = Task.CompletedTask;
    private int _gatewayPort;
    private int _healthPort;
    private int _metricsPort;
    private string _config = "";
    private readonly string _token = CloudflaredSupervisorTests.NewToken();

    private static string MainAssembly() => Path.Combine(AppContext.BaseDirectory, "mcp-tunnel.dll");

    private string Yaml(string extraRoutes = "", string logLevel = "info") => $"""
        listen_addr: "127.0.0.1:0"
        log_level: {logLevel}
        shutdown_timeout: 10s
        tunnel_domain: {TestPki.Domain}
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes:
          echo: http://127.0.0.1:{_upstream.Port}
          {extraRoutes}
        upstream:
          allowed_ips: [127.0.0.0/8]
        appliance:
          health_addr: "127.0.0.1:{_healthPort}"
          data_dir: {_directory.Path}
          cloudflared:
            binary: {_directory.File("cloudflared")}
            metrics_addr: "127.0.0.1:{_metricsPort}"
            grace_period: 2s
        """;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        // The gateway binds port 0 and the test reads the port it got from the log (GatewayPortAsync). The health
        // listener has no port-0 form (GatewayServer finds it by its configured port) and the metrics port is fixed
        // on purpose (a fixed port makes a rotation stop the old cloudflared first, which RotatedToken asserts), and
        // both are bound by the child process, which cannot be handed a socket: they are picked here.
        _healthPort = LoopbackPort.PickForAnotherListener();
        _metricsPort = LoopbackPort.PickForAnotherListener();
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-token", _token + "\n");
        var fake = Directory.EnumerateFiles(Path.Combine(RepoRoot(), "tests", "FakeCloudflared", "bin"), "fake-cloudflared", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).First();
        var wrapper = _directory.Write("cloudflared", $"#!/bin/sh\nexport FAKE_CLOUDFLARED_RECORD={_directory.File("record.json")}\nexec {fake} \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_000_000);
        _config = _directory.Write("config.yaml", Yaml());

        var socketPath = _directory.File("notify.sock");
        _notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _notify.Bind(new UnixDomainSocketEndPoint(socketPath));
        _drain = DrainNotifyAsync();

        // The published Native AOT binary when the test command built it (CI), else the managed build.
        var aot = Path.Combine(RepoRoot(), "artifacts", "bin", "mcp-tunnel");
        var useAot = File.Exists(aot) && Environment.GetEnvironmentVariable("MCP_TUNNEL_TEST_MANAGED") is null;
        // Started the way nohup and a script's background job start it: SIGHUP and SIGINT ignored, which exec
        // passes on. run must still reload on SIGHUP and stop cloudflared gracefully with SIGINT.
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-c", "trap '' HUP INT; exec \"$@\"", "with-ignored-signals" }.Concat(useAot ? [aot, "run", "--config", _config] : ["dotnet", MainAssembly(), "run", "--config", _config]))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["NOTIFY_SOCKET"] = socketPath;
        // Not a systemd service even if the test runner is one (that would turn the setpriv tie off).
        start.Environment.Remove("INVOCATION_ID");
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        _process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    private static string RepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root");
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// How long a step may take before the test calls it a hang. A bound, never a wait: a managed mcp-tunnel and the
    /// stand-in starting on two busy cores (the suite runs test classes in parallel) took over 30 s to be ready in 2
    /// of 9 starts here.
    /// </summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(90);

    private async Task WaitForOutput(string text)
    {
        var deadline = DateTime.UtcNow + HangLimit;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(_process.HasExited, $"mcp-tunnel exited early:\n{Output}");
            Assert.True(DateTime.UtcNow < deadline, $"no \"{text}\" in the output:\n{Output}");
            await Task.Delay(50);
        }
    }

    private async Task<string> ReceiveNotifyAsync(string containing)
    {
        using var timeout = new CancellationTokenSource(HangLimit);
        while (true)
        {
            var message = await _notifications.Reader.ReadAsync(timeout.Token);
            if (message.Contains(containing, StringComparison.Ordinal))
            {
                return message;
            }
        }
    }

    /// <summary>
    /// Reads the notify socket all the time, as systemd does: an AF_UNIX datagram socket queues at most
    /// net.unix.max_dgram_qlen (10) messages, after which the sender blocks, and run would stall in a reload
    /// or a connector state change.
    /// </summary>
    private async Task DrainNotifyAsync()
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await _notify.ReceiveAsync(buffer, SocketFlags.None);
                _notifications.Writer.TryWrite(Encoding.UTF8.GetString(buffer, 0, read));
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Disposed at the end of the test.
        }
    }

    private HttpClient EdgeClient()
    {
        var handler = McpTunnel.Operations.EdgeClient.CreateHandler(new McpTunnel.Operations.EdgeConnectOptions
        {
            Gateway = new Uri($"ws://127.0.0.1:{_gatewayPort}/"),
            SkipVerification = true,
        });
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    private async Task<(HttpStatusCode Status, string Body)> HealthAsync(string path)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{_healthPort}{path}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private async Task WaitReadyAsync()
    {
        using var timeout = new CancellationTokenSource(HangLimit);
        while (true)
        {
            try
            {
                if ((await HealthAsync("/readyz")).Status == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            Assert.False(_process.HasExited, $"mcp-tunnel exited early:\n{Output}");
            await Task.Delay(100, timeout.Token);
        }
    }

    [GeneratedRegex(@"msg=""gateway listening"" address=127\.0\.0\.1:(\d+)")]
    private static partial Regex GatewayListening();

    /// <summary>Waits until the gateway listens (listen_addr says port 0) and remembers the port it got, for <see cref="EdgeClient"/>.</summary>
    private async Task GatewayListeningAsync()
    {
        await WaitForOutput("msg=\"gateway listening\" address=");
        _gatewayPort = int.Parse(GatewayListening().Match(Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Ready (health says so) with the gateway's port known.</summary>
    private async Task ServingAsync()
    {
        await WaitReadyAsync();
        await GatewayListeningAsync();
    }

    private async Task ReloadAsync(string config, string expected)
    {
        File.WriteAllText(_config, config);
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGHUP));
        await WaitForOutput(expected);
    }

    private async Task StopAsync()
    {
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGTERM));
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Systemd_hears_ready_and_health_says_connected_and_the_child_gets_a_token_file()
    {
        // systemd hears READY=1 once the gateway listens, then the connector's progress.
        var ready = await ReceiveNotifyAsync("READY=1");
        Assert.Contains("STATUS=gateway listening", ready, StringComparison.Ordinal);
        await WaitReadyAsync();
        var readyz = await HealthAsync("/readyz");
        Assert.Contains("cloudflared: ok, connected", readyz.Body, StringComparison.Ordinal);
        Assert.Contains("certificate: ok", readyz.Body, StringComparison.Ordinal);
        Assert.Equal("ok\n", (await HealthAsync("/healthz")).Body);

        // The child got the token as a file and no NOTIFY_SOCKET (it would notify our unit).
        var record = JsonNode.Parse(File.ReadAllText(_directory.File("record.json")))!.AsObject();
        Assert.DoesNotContain(record["env"]!.AsArray(), n => n!.GetValue<string>() == "NOTIFY_SOCKET");
        Assert.Contains("--token-file", record["argv"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public async Task Traffic_shows_up_in_the_metrics()
    {
        await ServingAsync();
        using var http = EdgeClient();
        using (var response = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/ping")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var metrics = PrometheusText.Parse((await HealthAsync("/metrics")).Body);
        Assert.Equal(1, metrics.Value("mcp_tunnel_requests_total", ("route", "echo"), ("method", "GET"), ("status", "2xx")));
        Assert.Equal(1, metrics.Value("mcp_tunnel_cloudflared_ready"));
        Assert.Equal(1, metrics.Value("mcp_tunnel_request_duration_seconds_count", ("route", "echo")));
        // The connector's series, which only run has (the dashboard queries them: MetricsEndpointTests).
        Assert.Equal(0, metrics.Value("mcp_tunnel_cloudflared_restarts_total"));
        Assert.Equal(-1, metrics.Value("mcp_tunnel_cloudflared_last_exit_code"));
    }

    [Fact]
    public async Task Sighup_under_an_open_SSE_stream_adds_a_route_and_the_stream_survives()
    {
        await ServingAsync();
        await ReceiveNotifyAsync("READY=1");
        using var http = EdgeClient();
        using var stream = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/sse"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("event: first", await reader.ReadLineAsync());
        await ReloadAsync(Yaml($"second: http://127.0.0.1:{_upstream.Port}"), "msg=\"configuration reloaded\" routes=2");
        await ReceiveNotifyAsync("RELOADING=1");
        var afterReload = await ReceiveNotifyAsync("READY=1");
        Assert.Contains("STATUS=connected: ", afterReload, StringComparison.Ordinal); // back to the tunnel's state
        using (var second = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/x")))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        _upstream.SseGate.TrySetResult();
        Assert.Contains("data: two", await reader.ReadToEndAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_file_is_rejected_on_sighup_and_the_running_configuration_stays()
    {
        await ServingAsync();
        await ReloadAsync(Yaml($"second: http://127.0.0.1:{_upstream.Port}"), "msg=\"configuration reloaded\" routes=2");
        await ReloadAsync("listen_addr: \":8080\"\nroutes: [broken]\n", "reload rejected; the current configuration stays in force");
        using var http = EdgeClient();
        using (var still = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/y")))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        }
    }

    [Fact]
    public async Task A_file_nested_100000_levels_deep_is_refused_on_sighup_and_the_daemon_stays_up()
    {
        // Refused like any broken file: the daemon stays up (it used to die).
        await ServingAsync();
        await ReloadAsync(Yaml($"second: http://127.0.0.1:{_upstream.Port}"), "msg=\"configuration reloaded\" routes=2");
        await ReloadAsync("routes: " + new string('[', 100_000), "levels deep here");
        using var http = EdgeClient();
        using (var still = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/deep")))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        }
    }

    [Fact]
    public async Task Raising_log_level_to_debug_on_sighup_brings_debug_lines_back()
    {
        // The start level used to cap it.
        await ServingAsync();
        Assert.DoesNotContain("level=DEBUG", Output, StringComparison.Ordinal);
        await ReloadAsync(Yaml($"second: http://127.0.0.1:{_upstream.Port}\n  third: http://127.0.0.1:{_upstream.Port}", logLevel: "debug"), "msg=\"configuration reloaded\" routes=3");
        using (var debugClient = EdgeClient())
        using (var debugged = await debugClient.GetAsync(new Uri($"https://second.{TestPki.Domain}/debug")))
        {
            Assert.Equal(HttpStatusCode.OK, debugged.StatusCode);
        }

        await WaitForOutput("msg=\"websocket opened\"");
    }

    [Fact]
    public async Task A_rotated_token_restarts_cloudflared_with_it_while_the_gateway_stays_up()
    {
        await ServingAsync();
        var firstChild = JsonNode.Parse(File.ReadAllText(_directory.File("record.json")))!["pid"]!.GetValue<int>();
        var rotated = CloudflaredSupervisorTests.NewToken();
        File.Delete(_directory.File("record.json"));
        _directory.Write("tunnel-token", rotated + "\n");
        await WaitForOutput("tunnel token changed; restarting cloudflared gracefully");
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while (!File.Exists(_directory.File("record.json")) || !File.ReadAllText(_directory.File("record.json")).Contains(rotated, StringComparison.Ordinal))
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        Assert.False(Directory.Exists($"/proc/{firstChild}"));
        using var http = EdgeClient();
        using (var during = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/z")))
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        }

        await StopAsync();
        Assert.DoesNotContain(rotated, Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_says_STOPPING_stops_cloudflared_gracefully_drains_and_exits_0()
    {
        await ServingAsync();
        var child = JsonNode.Parse(File.ReadAllText(_directory.File("record.json")))!["pid"]!.GetValue<int>();
        await StopAsync();
        await ReceiveNotifyAsync("STOPPING=1");
        Assert.Equal(0, _process.ExitCode);
        Assert.Contains("cloudflared stopping", Output, StringComparison.Ordinal);
        Assert.Contains("msg=\"cloudflared stopped\" code=0", Output, StringComparison.Ordinal); // graceful, not killed
        Assert.DoesNotContain("did not stop within", Output, StringComparison.Ordinal);
        Assert.Contains("gateway stopped", Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{child}"), "the cloudflared stand-in outlived mcp-tunnel");
        Assert.DoesNotContain(_token, Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Killing_mcp_tunnel_outright_takes_cloudflared_with_it()
    {
        await WaitReadyAsync();
        var child = JsonNode.Parse(File.ReadAllText(_directory.File("record.json")))!["pid"]!.GetValue<int>();
        Assert.True(Directory.Exists($"/proc/{child}"));

        // SIGKILL: none of our code runs; the kernel's parent-death signal must end the child.
        Assert.Equal(0, Signals.Kill(_process.Id, 9));
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(" Z ", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"cloudflared stand-in {child} outlived a killed mcp-tunnel");
            await Task.Delay(50);
        }
    }

    public async Task DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _notify.Dispose();
        await _drain;
        await _upstream.DisposeAsync();
        _directory.Dispose();
    }

    /// <summary>kill(2), to send SIGHUP and SIGTERM to the child.</summary>
    private static partial class Signals
    {
        public const int SIGHUP = 1;
        public const int SIGTERM = 15;

        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static partial int Kill(int pid, int signal);
    }
}
