using System.Diagnostics;

namespace McpTunnel.Tests.Cli;

/// <summary>
/// The published Native AOT binary itself (artifacts/bin/mcp-tunnel, built by the README's test command
/// before the tests run). Skipped when it has not been built, e.g. in an IDE.
/// </summary>
public sealed class BinaryTests
{
    private static readonly string? Binary = FindBinary();

    private static string? FindBinary()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MCP_TUNNEL_BINARY");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "artifacts", "bin", "mcp-tunnel");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static Task<(int Code, string Output)> RunAsync(params string[] args) => RunAsAsync(Binary!, args);

    private static async Task<(int Code, string Output)> RunAsAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [SkippableFact]
    public async Task The_aot_binary_runs_the_demo_end_to_end_and_its_log_only_when_asked()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync("demo", "--once");
        Assert.True(code == 0, output);
        Assert.Contains("demo OK", output, StringComparison.Ordinal);
        // The numbered steps are the story; the request lines would interleave with them.
        Assert.DoesNotContain("request started", output, StringComparison.Ordinal);

        (code, output) = await RunAsync("demo", "--once", "--verbose");
        Assert.True(code == 0, output);
        Assert.Contains("msg=\"request started\" method=POST host=hello.demo1234.tunnel.invalid path=/mcp", output, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("aot")]
    [InlineData("dotnet")]
    public async Task The_probe_command_the_demo_prints_works_as_shown(string how)
    {
        Skip.If(how == "aot" && Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        // The managed build is what `dotnet run` runs; started through `dotnet mcp-tunnel.dll` there is no
        // mcp-tunnel on PATH, so the printed command must name the program that printed it.
        var start = how == "aot" ? new ProcessStartInfo(Binary!) : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(AppContext.BaseDirectory, "mcp-tunnel.dll") } };
        start.ArgumentList.Add("demo");
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["PATH"] = "/usr/bin:/bin";
        using var demo = Process.Start(start)!;
        try
        {
            _ = demo.StandardError.ReadToEndAsync();
            string? printed = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await demo.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.Contains(" probe --gateway ", StringComparison.Ordinal))
                {
                    printed = line.Trim();
                    break;
                }
            }

            Assert.NotNull(printed);
            var (code, output) = await RunAsAsync("/bin/sh", "-c", printed!);
            Assert.True(code == 0, $"{printed}\n{output}");
            Assert.Contains("hello -> Hello,", output, StringComparison.Ordinal);
            Assert.Contains("probe OK", output, StringComparison.Ordinal);
        }
        finally
        {
            demo.Kill(entireProcessTree: true);
            await demo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [SkippableTheory]
    [InlineData("setup", "Usage:\n  mcp-tunnel setup [command] [options]")]
    [InlineData("gateway", "Usage:\n  mcp-tunnel gateway [options]")]
    [InlineData("run", "Usage:\n  mcp-tunnel run [options]")]
    [InlineData("mcp-proxy", "Usage:\n  mcp-tunnel gateway [options]")]
    [InlineData("mcp-tunnel", "Usage:\n  mcp-tunnel [command] [options]")]
    public async Task A_copy_named_after_a_command_runs_it_instead_of_crashing(string name, string usage)
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using var directory = new Infrastructure.TempDirectory();
        var link = directory.File(name);
        File.CreateSymbolicLink(link, Binary!);
        var (code, output) = await RunAsAsync(link, "--help");
        Assert.True(code == 0, output);
        Assert.Contains(usage, output, StringComparison.Ordinal);

        // Named setup, it takes the Compose setup service's argv.
        if (name == "setup")
        {
            (code, output) = await RunAsAsync(link, "renew-cert", $"--output=dir:{directory.File("empty")}");
            Assert.True(code == 1, output);
            Assert.Contains("setup: ", output, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task The_aot_binary_serves_metrics_exports_a_span_per_call_and_propagates_its_trace()
    {
        // The OpenTelemetry SDK and exporters under Native AOT: the in-process tests run them JIT-compiled only.
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        await using var collector = await Infrastructure.OtlpReceiver.StartAsync();
        await using var echo = await Infrastructure.EchoUpstream.StartAsync();
        using var directory = new Infrastructure.TempDirectory();
        new Infrastructure.TestPki().WriteTo(directory);
        var gatewayPort = Infrastructure.LoopbackPort.PickForAnotherListener();
        var healthPort = Infrastructure.LoopbackPort.PickForAnotherListener();
        var config = directory.Write("config.yaml", $$"""
            listen_addr: "127.0.0.1:{{gatewayPort}}"
            tunnel_domain: {{Infrastructure.TestPki.Domain}}
            tls: { cert_file: tls.crt, key_file: tls.key }
            routes: { echo: "http://127.0.0.1:{{echo.Port}}" }
            upstream: { allowed_ips: [127.0.0.0/8] }
            appliance:
              health_addr: "127.0.0.1:{{healthPort}}"
              telemetry: { otlp_endpoint: "{{collector.Endpoint}}", service_name: aot-under-test }
            """);
        using var systemd = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        systemd.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(directory.File("notify")));
        var start = new ProcessStartInfo(Binary!) { RedirectStandardError = true, RedirectStandardOutput = true, ArgumentList = { "run", "--no-connector", "--config", config } };
        start.Environment["NOTIFY_SOCKET"] = directory.File("notify");
        start.Environment["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        start.Environment.Remove("INVOCATION_ID");
        foreach (var name in McpTunnel.Gateway.Diagnostics.GatewayTelemetry.Variables.Where(n => n != "OTEL_BSP_SCHEDULE_DELAY"))
        {
            start.Environment.Remove(name);
        }

        using var run = Process.Start(start)!;
        var log = new System.Text.StringBuilder();
        run.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        run.BeginErrorReadLine();
        try
        {
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            while (!System.Text.Encoding.UTF8.GetString(buffer, 0, await systemd.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, timeout.Token)).Contains("READY=1", StringComparison.Ordinal))
            {
            }

            using var http = new HttpClient(McpTunnel.Operations.EdgeClient.CreateHandler(new McpTunnel.Operations.EdgeConnectOptions
            {
                Gateway = new Uri($"ws://127.0.0.1:{gatewayPort}/"),
                SkipVerification = true,
            })) { Timeout = TimeSpan.FromSeconds(60) };
            using var content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hello","arguments":{}}}""", System.Text.Encoding.UTF8, "application/json");
            using var response = await http.PostAsync(new Uri($"https://echo.{Infrastructure.TestPki.Domain}/mcp"), content, timeout.Token);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            using var echoed = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(timeout.Token));

            var span = await collector.WaitForSpanAsync(s => s.Scope == "McpTunnel" && s.Kind == 2, TimeSpan.FromMinutes(3));
            Assert.Equal("tools/call hello", span.Name);
            Assert.Equal("aot-under-test", span.Resource["service.name"]);
            // Its children: the upstream request, whose context the upstream received, and the dial under that.
            var upstream = await collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == span.SpanId, TimeSpan.FromMinutes(3));
            Assert.Equal(3, upstream.Kind);
            Assert.Equal($"00-{span.TraceId}-{upstream.SpanId}-01", echoed.RootElement.GetProperty("headers").GetProperty("traceparent").GetString());
            var dial = await collector.WaitForSpanAsync(s => s.TraceId == span.TraceId && s.ParentSpanId == upstream.SpanId, TimeSpan.FromMinutes(3));
            Assert.Equal("upstream connect", dial.Name);

            using var scrape = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
            var metrics = Infrastructure.PrometheusText.Parse(await scrape.GetStringAsync(new Uri($"http://127.0.0.1:{healthPort}/metrics"), timeout.Token));
            Assert.Equal(1, metrics.Value("mcp_tunnel_requests_total", ("route", "echo"), ("method", "POST"), ("status", "2xx")));
            Assert.Contains(metrics.Samples, s => s.Name.StartsWith("kestrel_", StringComparison.Ordinal));
            Assert.Contains(metrics.Samples, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [SkippableFact]
    public async Task Run_without_routes_warns_at_start_and_in_its_status()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using var directory = new Infrastructure.TempDirectory();
        new Infrastructure.TestPki().WriteTo(directory);
        var config = directory.Write("config.yaml", $"listen_addr: \"127.0.0.1:0\"\ntunnel_domain: {Infrastructure.TestPki.Domain}\ntls: {{ cert_file: tls.crt, key_file: tls.key }}\nroutes: {{}}\n");
        using var systemd = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Unspecified);
        systemd.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(directory.File("notify")));
        var start = new ProcessStartInfo(Binary!) { RedirectStandardError = true, RedirectStandardOutput = true, ArgumentList = { "run", "--no-connector", "--config", config } };
        start.Environment["NOTIFY_SOCKET"] = directory.File("notify");
        start.Environment.Remove("INVOCATION_ID");
        using var run = Process.Start(start)!;
        try
        {
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string ready;
            do
            {
                ready = System.Text.Encoding.UTF8.GetString(buffer, 0, await systemd.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, timeout.Token));
            }
            while (!ready.Contains("READY=1", StringComparison.Ordinal));

            Assert.Contains("; no routes configured: every request gets 502 No route configured for host", ready, StringComparison.Ordinal);
            string? line;
            while ((line = await run.StandardError.ReadLineAsync(timeout.Token)) is not null && !line.Contains("no routes configured", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
            Assert.Contains("level=WARN", line, StringComparison.Ordinal);
        }
        finally
        {
            run.Kill(entireProcessTree: true);
            await run.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [SkippableFact]
    public async Task Bare_it_prints_the_usage_and_a_wrong_command_line_exits_2()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync();
        Assert.True(code == 0, output);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);

        (code, output) = await RunAsync("--log-format", "json", "gateway");
        Assert.Equal(2, code);
        Assert.Contains("--log-format is an option of \"mcp-tunnel gateway\" and goes after it", output, StringComparison.Ordinal);

        (code, output) = await RunAsync("config", "validate", "--config", "/nonexistent/config.yaml");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/config.yaml: no such configuration file; pass --config FILE", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Could not find", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_aot_binary_accepts_the_proxys_argv_and_exits_1_on_a_bad_config()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using var directory = new Infrastructure.TempDirectory();
        var config = directory.Write("config.yaml", "listen_addr: \":8080\"\nroutes:\n  - echo: http://x:1\n");
        var (code, output) = await RunAsync("-config", config, "-tunnel-domain", "abcd.tunnel.example");
        Assert.Equal(1, code);
        Assert.Contains("cannot unmarshal !!seq into map[string]string", output, StringComparison.Ordinal);
        Assert.Contains("tls: is required", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Listening_on_every_interface_logs_the_socket_as_bound_not_a_loopback_address()
    {
        // ":PORT" binds every interface; the log named it 127.0.0.1:PORT while the socket was [::]:PORT. Run in a
        // network namespace of its own (unshare -rn), so the wildcard socket is never open on the host's network.
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using (var probe = Process.Start(new ProcessStartInfo("unshare", ["-rn", "true"]) { RedirectStandardError = true })!)
        {
            await probe.WaitForExitAsync();
            Skip.If(probe.ExitCode != 0, "unshare -rn (a user and network namespace) is not allowed here");
        }

        using var directory = new Infrastructure.TempDirectory();
        new Infrastructure.TestPki().WriteTo(directory);
        var config = directory.Write("config.yaml", $"""
            listen_addr: ":18080"
            tunnel_domain: {Infrastructure.TestPki.Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes:
              echo: http://10.0.0.5:9000
            """);
        var start = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-rn", Binary!, "gateway", "--config", config })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line;
            while ((line = await process.StandardError.ReadLineAsync(timeout.Token)) is not null && !line.Contains("msg=\"gateway listening\"", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
            Assert.EndsWith("msg=\"gateway listening\" address=[::]:18080", line, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [SkippableFact]
    public async Task The_aot_binary_prints_its_version()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync("version");
        Assert.Equal(0, code);
        Assert.StartsWith("mcp-tunnel ", output, StringComparison.Ordinal);
    }
}
