using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using McpTunnel.Operations;
using McpTunnel.Tests.Infrastructure;
using Xunit.Abstractions;

namespace McpTunnel.Tests.Connector;

/// <summary>
/// <c>mcp-tunnel run</c> as a process with the cloudflared stand-in: what the connector does against the real
/// program's behaviour (version, environment, process group, bound address, logs, token rotation).
/// </summary>
public sealed partial class RunConnectorTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private readonly List<McpTunnelProcess> _processes = [];
    private EchoUpstream _upstream = null!;
    private Socket? _notify;
    private int _healthPort;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        // mcp-tunnel binds it in its own process, and the health listener has no port-0 form: picked here.
        _healthPort = LoopbackPort.PickForAnotherListener();
        new TestPki().WriteTo(_directory);
    }

    private string Record => _directory.File("record.json");

    private string Config(string listen = "127.0.0.1:0", string grace = "2s", string shutdown = "10s") => _directory.Write("config.yaml", $"""
        listen_addr: "{listen}"
        log_level: info
        shutdown_timeout: {shutdown}
        tunnel_domain: {TestPki.Domain}
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes:
          echo: http://127.0.0.1:{_upstream.Port}
        upstream:
          allowed_ips: [127.0.0.0/8]
        appliance:
          health_addr: "127.0.0.1:{_healthPort}"
          data_dir: {_directory.Path}
          cloudflared:
            binary: {_directory.File("cloudflared")}
            grace_period: {grace}
        """);

    private McpTunnelProcess Start(Dictionary<string, string>? knobs = null, IReadOnlyDictionary<string, string?>? environment = null, bool ownProcessGroup = false, string? config = null, bool token = true)
    {
        if (token)
        {
            _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        }

        var all = new Dictionary<string, string>(knobs ?? []) { ["FAKE_CLOUDFLARED_RECORD"] = Record };
        StandIn.Wrapper(_directory, all);
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>());
        if (_notify is not null)
        {
            env["NOTIFY_SOCKET"] = _directory.File("notify.sock");
        }

        var process = McpTunnelProcess.Start(["run", "--config", config ?? Config()], env, ownProcessGroup);
        _processes.Add(process);
        return process;
    }

    private void ListenForNotify()
    {
        _notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _notify.Bind(new UnixDomainSocketEndPoint(_directory.File("notify.sock")));
    }

    private async Task<string> ReceiveNotifyAsync(string containing)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var read = await _notify!.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            var message = Encoding.UTF8.GetString(buffer, 0, read);
            if (message.Contains(containing, StringComparison.Ordinal))
            {
                return message;
            }
        }
    }

    private async Task WaitReadyAsync(McpTunnelProcess process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await McpTunnelProcess.GetAsync(_healthPort, "/readyz")).Status == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            Assert.False(process.HasExited, $"mcp-tunnel exited early:\n{process.Output}");
            Assert.True(DateTime.UtcNow < deadline, $"never ready:\n{process.Output}");
            await Task.Delay(100);
        }
    }

    private static async Task<int> StopAsync(McpTunnelProcess process)
    {
        Assert.Equal(0, McpTunnelProcess.Signal(process.Id, 15));
        return await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Cloudflared_is_given_the_address_the_gateway_bound_when_listen_addr_has_port_0()
    {
        var process = Start();
        await WaitReadyAsync(process);
        var gateway = GatewayAddress().Match(process.Output);
        Assert.True(gateway.Success, process.Output);
        var argv = (await McpTunnelProcess.RecordAsync(Record))["argv"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal($"http://127.0.0.1:{gateway.Groups[1].Value}", argv[argv.IndexOf("--url") + 1]);
        Assert.Equal(0, await StopAsync(process));
    }

    [Fact]
    public async Task Ctrl_C_on_a_foreground_run_reaches_cloudflared_once_and_it_drains()
    {
        // The terminal sends SIGINT to the whole foreground process group. cloudflared must get exactly one
        // (ours): a second one makes it die at once with 130 without unregistering.
        var process = Start(ownProcessGroup: true);
        await WaitReadyAsync(process);
        var record = await McpTunnelProcess.RecordAsync(Record);
        Assert.NotEqual(process.Id, record["pgid"]!.GetValue<int>());
        // Only ever signal a group that is mcp-tunnel's own (never the test runner's).
        Assert.Equal(process.Id, McpTunnelProcess.ProcessGroup(process.Id));
        Assert.Equal(0, McpTunnelProcess.Signal(-process.Id, 2));
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("msg=\"cloudflared stopped\" code=0", process.Output, StringComparison.Ordinal);
        Assert.Contains("cloudflared: Unregistered tunnel connection", process.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists($"/proc/{record["pid"]!.GetValue<int>()}"), "cloudflared outlived mcp-tunnel");
    }

    [Fact]
    public async Task Only_an_allow_list_of_variables_reaches_cloudflared()
    {
        // A bogus SSH_IDLE_TIMEOUT makes the real cloudflared exit 0 silently (urfave/cli reads every flag's
        // environment twin); secrets of other tools have no business in its environment either.
        var process = Start(environment: new Dictionary<string, string?>
        {
            ["SSH_IDLE_TIMEOUT"] = "bogus",
            ["API_TOKEN"] = "sk-test-api-token",
            ["ANTHROPIC_IDENTITY_TOKEN"] = "eyJhbGciOiJub25lIn0.e30.",
            ["UNRELATED_SETTING"] = "x",
            ["TZ"] = "UTC",
            ["LC_ALL"] = "C.UTF-8",
            ["https_proxy"] = "http://127.0.0.1:9",
            ["SSL_CERT_FILE"] = "/etc/ssl/certs/ca-certificates.crt",
        });
        await WaitReadyAsync(process);
        var env = (await McpTunnelProcess.RecordAsync(Record))["env"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
        foreach (var name in new[] { "SSH_IDLE_TIMEOUT", "API_TOKEN", "ANTHROPIC_IDENTITY_TOKEN", "UNRELATED_SETTING", "NOTIFY_SOCKET", "DOTNET_ROOT" })
        {
            Assert.DoesNotContain(name, env);
        }

        foreach (var name in new[] { "PATH", "TZ", "LC_ALL", "https_proxy", "SSL_CERT_FILE" })
        {
            Assert.Contains(name, env);
        }

        Assert.Equal(0, await StopAsync(process));
    }

    [Fact]
    public async Task The_copy_of_TUNNEL_TOKEN_is_gone_once_cloudflared_is_done_with_it()
    {
        var token = CloudflaredSupervisorTests.NewToken();
        var process = Start(environment: new Dictionary<string, string?> { ["TUNNEL_TOKEN"] = token, ["RUNTIME_DIRECTORY"] = null }, token: false);
        await WaitReadyAsync(process);
        var record = await McpTunnelProcess.RecordAsync(Record);
        Assert.Equal(token, record["token"]!.GetValue<string>());
        Assert.DoesNotContain("TUNNEL_TOKEN", record["env"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(0, await StopAsync(process));
        Assert.False(File.Exists(_directory.File("cloudflared-token")), "the token copy outlived cloudflared");
        Assert.DoesNotContain(token, process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_too_old_cloudflared_is_one_error_naming_both_versions_on_readyz_and_in_systemd_status()
    {
        ListenForNotify();
        var process = Start(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2024.12.2" });
        var status = await ReceiveNotifyAsync("2024.12.2");
        Assert.Contains("2025.4.0", status, StringComparison.Ordinal);
        var readyz = await McpTunnelProcess.GetAsync(_healthPort, "/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyz.Status);
        Assert.Contains("2024.12.2", readyz.Body, StringComparison.Ordinal);
        Assert.Contains("2025.4.0", readyz.Body, StringComparison.Ordinal);
        var errors = process.Output.Split('\n').Where(l => l.Contains("level=ERROR", StringComparison.Ordinal)).ToList();
        var error = Assert.Single(errors);
        Assert.Contains("2024.12.2", error, StringComparison.Ordinal);
        Assert.Contains("2025.4.0", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Record), "a too-old cloudflared was started anyway");
        Assert.Equal(0, await StopAsync(process));
    }

    [Fact]
    public async Task The_connectors_lines_are_valid_logfmt_with_cloudflareds_fields_as_fields()
    {
        var process = Start(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_MODE"] = "crash" });
        await process.WaitForOutputAsync("msg=\"cloudflared exited\"");
        await process.WaitForOutputAsync("cloudflared: tunnel registration failed permanently");
        Assert.Equal(0, await StopAsync(process));
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, line => Assert.Matches(Logfmt(), line));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"level=WARN msg=""cloudflared exited"" code=1 retry_in=\d+(\.\d)?s$"));
        var registration = Assert.Single(lines, l => l.Contains("msg=\"cloudflared: Register tunnel error from server side\"", StringComparison.Ordinal));
        Assert.Contains("level=ERROR", registration, StringComparison.Ordinal);
        Assert.Contains(" connIndex=0 ", registration, StringComparison.Ordinal);
        Assert.Contains(" error=\"tunnel registration failed permanently\"", registration, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("level=ERROR msg=\"cloudflared: tunnel registration failed permanently\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_token_rotation_is_make_before_break_and_loses_no_request_under_load()
    {
        await using var edge = new FakeEdge();
        var process = Start(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_EDGE"] = edge.ControlAddress }, config: Config(grace: "20s", shutdown: "25s"));
        await WaitReadyAsync(process);
        var first = (await McpTunnelProcess.RecordAsync(Record))["pid"]!.GetValue<int>();

        var ok = 0;
        var failures = new List<string>();
        using var load = new CancellationTokenSource();
        async Task LoadAsync()
        {
            while (!load.IsCancellationRequested)
            {
                // A new connection through the edge for every request, as new visitors come in.
                using var http = new HttpClient(EdgeClient.CreateHandler(new EdgeConnectOptions { Gateway = new Uri($"ws://127.0.0.1:{edge.Port}/"), SkipVerification = true })) { Timeout = TimeSpan.FromSeconds(30) };
                try
                {
                    using var response = await http.GetAsync(new Uri($"https://echo.{TestPki.Domain}/load"));
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Interlocked.Increment(ref ok);
                    }
                    else
                    {
                        lock (failures)
                        {
                            failures.Add($"HTTP {(int)response.StatusCode}");
                        }
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.WebSockets.WebSocketException or TaskCanceledException)
                {
                    lock (failures)
                    {
                        failures.Add(ex.Message);
                    }
                }
            }
        }

        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(LoadAsync)).ToList();
        await WaitForAsync(() => Volatile.Read(ref ok) >= 20, "requests through the first connector");

        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        await process.WaitForOutputAsync("tunnel token changed");
        await WaitForAsync(() => !Directory.Exists($"/proc/{first}") || File.ReadAllText($"/proc/{first}/stat").Contains(" Z ", StringComparison.Ordinal), "the first connector to exit");
        var afterRotation = Volatile.Read(ref ok);
        await WaitForAsync(() => Volatile.Read(ref ok) >= afterRotation + 20, "requests through the new connector");
        await load.CancelAsync();
        await Task.WhenAll(clients);

        lock (failures)
        {
            Assert.True(failures.Count == 0, $"{failures.Count} failed request(s) of {ok + failures.Count}: {string.Join("; ", failures.Distinct().Take(5))}\n{process.Output}");
        }

        Assert.Equal(0, edge.Refused);
        var served = edge.Served;
        output.WriteLine($"{ok} requests, {failures.Count} failed, {edge.Refused} refused by the edge; per connector: {string.Join(", ", served.Select(s => s.Served))}");
        Assert.Equal(2, served.Count);
        Assert.All(served, s => Assert.True(s.Served > 0, $"connector {s.Id} carried nothing"));
        Assert.Contains("msg=\"cloudflared stopped\" code=0", process.Output, StringComparison.Ordinal);
        Assert.Equal(0, await StopAsync(process));
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    [GeneratedRegex(@"msg=""gateway listening"" address=127\.0\.0\.1:(\d+)")]
    private static partial Regex GatewayAddress();

    /// <summary>A logfmt line: time, level, msg, then only key=value pairs (values bare or quoted with escapes).</summary>
    [GeneratedRegex(@"^time=\S+ level=[A-Z]+ msg=(?:""(?:[^""\\]|\\.)*""|[^\s""=]+)(?: [A-Za-z_][\w.\-]*=(?:""(?:[^""\\]|\\.)*""|[^\s""=]*))*$")]
    private static partial Regex Logfmt();

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        _notify?.Dispose();
        await _upstream.DisposeAsync();
        _directory.Dispose();
    }
}
