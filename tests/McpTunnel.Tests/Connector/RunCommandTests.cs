using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
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
    private string _config = "";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string MainAssembly() => Path.Combine(AppContext.BaseDirectory, "mcp-tunnel.dll");

    private string Yaml(string extraRoutes = "", string logLevel = "info") => $"""
        listen_addr: "127.0.0.1:{_gatewayPort}"
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
            metrics_addr: "127.0.0.1:{FreePort()}"
            grace_period: 2s
        """;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        _gatewayPort = FreePort();
        _healthPort = FreePort();
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
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

    private async Task WaitForOutput(string text)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(_process.HasExited, $"mcp-tunnel exited early:\n{Output}");
            Assert.True(DateTime.UtcNow < deadline, $"no \"{text}\" in the output:\n{Output}");
            await Task.Delay(50);
        }
    }

    private async Task<string> ReceiveNotifyAsync(string containing)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
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
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
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

    [Fact]
    public async Task Run_serves_reloads_rotates_and_stops_in_order()
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
        var firstChild = record["pid"]!.GetValue<int>();

        // Traffic shows up in the metrics.
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

        // SIGHUP under an open SSE stream: a new route appears, the stream survives.
        using var stream = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/sse"), HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("event: first", await reader.ReadLineAsync());
        File.WriteAllText(_config, Yaml($"second: http://127.0.0.1:{_upstream.Port}"));
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGHUP));
        await WaitForOutput("msg=\"configuration reloaded\" routes=2");
        await ReceiveNotifyAsync("RELOADING=1");
        var afterReload = await ReceiveNotifyAsync("READY=1");
        Assert.Contains("STATUS=connected: ", afterReload, StringComparison.Ordinal); // back to the tunnel's state
        using (var second = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/x")))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        _upstream.SseGate.TrySetResult();
        Assert.Contains("data: two", await reader.ReadToEndAsync(), StringComparison.Ordinal);

        // An invalid config is rejected and the old one stays.
        File.WriteAllText(_config, "listen_addr: \":8080\"\nroutes: [broken]\n");
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGHUP));
        await WaitForOutput("reload rejected; the current configuration stays in force");
        using (var still = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/y")))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        }

        // A file nested 100,000 levels deep is refused like any broken file: the daemon stays up (it used to die).
        File.WriteAllText(_config, "routes: " + new string('[', 100_000));
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGHUP));
        await WaitForOutput("levels deep here");
        using (var still = await http.GetAsync(new Uri($"https://second.{TestPki.Domain}/deep")))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
        }

        // Raising log_level to debug on reload brings debug lines back (the start level used to cap it).
        Assert.DoesNotContain("level=DEBUG", Output, StringComparison.Ordinal);
        File.WriteAllText(_config, Yaml($"second: http://127.0.0.1:{_upstream.Port}\n  third: http://127.0.0.1:{_upstream.Port}", logLevel: "debug"));
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGHUP));
        await WaitForOutput("msg=\"configuration reloaded\" routes=3");
        using (var debugClient = EdgeClient())
        using (var debugged = await debugClient.GetAsync(new Uri($"https://second.{TestPki.Domain}/debug")))
        {
            Assert.Equal(HttpStatusCode.OK, debugged.StatusCode);
        }

        await WaitForOutput("msg=\"websocket opened\"");

        // A rotated token restarts cloudflared with the new value; the gateway stays up.
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
        var secondChild = JsonNode.Parse(File.ReadAllText(_directory.File("record.json")))!["pid"]!.GetValue<int>();
        using (var during = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/z")))
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        }

        // SIGTERM: STOPPING=1, cloudflared stopped, gateway drained, exit 0, no child left.
        Assert.Equal(0, Signals.Kill(_process.Id, Signals.SIGTERM));
        await ReceiveNotifyAsync("STOPPING=1");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, _process.ExitCode);
        Assert.Contains("cloudflared stopping", Output, StringComparison.Ordinal);
        Assert.Contains("msg=\"cloudflared stopped\" code=0", Output, StringComparison.Ordinal); // graceful, not killed
        Assert.DoesNotContain("did not stop within", Output, StringComparison.Ordinal);
        Assert.Contains("gateway stopped", Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{secondChild}"), "the cloudflared stand-in outlived mcp-tunnel");
        Assert.DoesNotContain(rotated, Output, StringComparison.Ordinal);
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
