using McpTunnel.Commands;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Cli;

public sealed class CliTests
{
    [Theory]
    [InlineData(new[] { "-config", "/etc/mcp-proxy/config.yaml" }, new[] { "gateway", "--config", "/etc/mcp-proxy/config.yaml" })]
    [InlineData(new[] { "-config=/c.yaml", "-tunnel-domain", "d" }, new[] { "gateway", "--config=/c.yaml", "--tunnel-domain", "d" })]
    [InlineData(new[] { "--tunnel-domain", "d" }, new[] { "gateway", "--tunnel-domain", "d" })]
    [InlineData(new[] { "probe", "--insecure" }, new[] { "probe", "--insecure" })]
    [InlineData(new[] { "--help" }, new[] { "--help" })]
    public void The_proxy_containers_argv_runs_the_gateway(string[] args, string[] expected) =>
        Assert.Equal(expected, Invocation.Normalize(args, null, Commands.Cli.Build()));

    [Theory]
    [InlineData("gateway -config /x.yaml -tunnel-domain d.example")]
    [InlineData("gateway --config /x.yaml --tunnel-domain d.example")]
    [InlineData("config validate -c /x.yaml")]
    public void Go_style_and_gnu_style_flags_parse_the_same(string line)
    {
        var root = Commands.Cli.Build();
        var result = root.Parse(Invocation.Normalize(line.Split(' '), null, root));
        Assert.Empty(result.Errors);
    }

    [Fact]
    public async Task Config_validate_exits_0_for_a_good_file_and_1_with_every_problem_for_a_bad_one()
    {
        using var directory = new TempDirectory();
        new TestPki().WriteTo(directory);
        var good = directory.Write("good.yaml", """
            listen_addr: "127.0.0.1:8080"
            tunnel_domain: abcd1234.tunnel.test
            tls: { cert_file: tls.crt, key_file: tls.key }
            routes: { echo: http://10.0.0.5:9000 }
            """);
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await ValidateCommand.RunAsync(good, null, output, error));
        Assert.Contains("config OK", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("route: echo -> http://10.0.0.5:9000", output.ToString(), StringComparison.Ordinal);

        var bad = directory.Write("bad.yaml", """
            listen_addr: "127.0.0.1:8080"
            tls: { cert_file: tls.crt, key_file: tls.key }
            routes:
              - echo: http://10.0.0.5:9000/mcp
            upstream: { allowed_ips: [10.0.0.0/8], disable_ip_validation: true }
            """);
        error = new StringWriter();
        Assert.Equal(1, await ValidateCommand.RunAsync(bad, null, new StringWriter(), error));
        var text = error.ToString();
        Assert.Contains("bad.yaml:4:3: routes: cannot unmarshal !!seq into map[string]string", text, StringComparison.Ordinal);
        Assert.Contains("mutually exclusive", text, StringComparison.Ordinal);
        Assert.Contains("invalid configuration: 2 errors", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_validate_warns_about_routes_the_ip_policy_refuses_naming_the_entry_to_add()
    {
        using var directory = new TempDirectory();
        new TestPki().WriteTo(directory);
        var path = directory.Write("config.yaml", """
            listen_addr: "127.0.0.1:8080"
            tunnel_domain: abcd1234.tunnel.test
            tls: { cert_file: tls.crt, key_file: tls.key }
            routes:
              hello: http://127.0.0.1:9000
              named: http://mcp.internal.test:9000
              fine: http://10.0.0.5:9000
              gone: http://nowhere.internal.test:9000
              private: http://wiki.internal.test:9000
            """);
        Task<System.Net.IPAddress[]> Resolve(string host, CancellationToken ct) => host switch
        {
            "mcp.internal.test" => Task.FromResult(new[] { System.Net.IPAddress.Parse("127.0.0.2") }),
            "wiki.internal.test" => Task.FromResult(new[] { System.Net.IPAddress.Parse("192.168.1.20") }),
            _ => Task.FromException<System.Net.IPAddress[]>(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.HostNotFound)),
        };
        var output = new StringWriter();
        var error = new StringWriter();

        Assert.Equal(0, await ValidateCommand.RunAsync(path, null, output, error, Resolve));

        var warnings = error.ToString();
        Assert.Contains("warning: routes.hello: the IP policy refuses 127.0.0.1 (allowed: 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16), so every request to this route gets 502", warnings, StringComparison.Ordinal);
        Assert.Contains("Add 127.0.0.1/32 to upstream.allowed_ips (setting it replaces the default, so list the networks you still use too: allowed_ips: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.1/32])", warnings, StringComparison.Ordinal);
        Assert.Contains("warning: routes.named: mcp.internal.test resolves to 127.0.0.2; the IP policy refuses 127.0.0.2", warnings, StringComparison.Ordinal);
        Assert.Contains("warning: routes.gone: cannot resolve nowhere.internal.test from this host", warnings, StringComparison.Ordinal);
        Assert.DoesNotContain("routes.fine", warnings, StringComparison.Ordinal);
        Assert.DoesNotContain("routes.private", warnings, StringComparison.Ordinal);
        Assert.Contains("config OK: ", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("(3 route warnings above)", output.ToString(), StringComparison.Ordinal);

        // With the entry added (the docs' local-upstream example), nothing to say about it.
        File.AppendAllText(path, "\nupstream:\n  allowed_ips: [10.0.0.0/8, 192.168.0.0/16, 127.0.0.1/32]\n");
        error = new StringWriter();
        Assert.Equal(0, await ValidateCommand.RunAsync(path, null, new StringWriter(), error, Resolve));
        Assert.DoesNotContain("routes.hello", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("routes.named: mcp.internal.test resolves to 127.0.0.2; the IP policy refuses 127.0.0.2 (allowed: 10.0.0.0/8,192.168.0.0/16,127.0.0.1/32)", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("replaces the default", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_validate_catches_a_key_that_does_not_match_the_certificate()
    {
        using var directory = new TempDirectory();
        var pki = new TestPki();
        pki.WriteTo(directory);
        directory.Write("tls.key", pki.NewServerCertificate().PrivateKeyPem);
        var path = directory.Write("config.yaml", """
            listen_addr: "127.0.0.1:8080"
            tunnel_domain: abcd1234.tunnel.test
            tls: { cert_file: tls.crt, key_file: tls.key }
            routes: { echo: http://10.0.0.5:9000 }
            """);
        var error = new StringWriter();
        Assert.Equal(1, await ValidateCommand.RunAsync(path, null, new StringWriter(), error));
        Assert.Contains("does not belong to the certificate", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_runs_the_whole_path_and_reports_each_step()
    {
        var output = new StringWriter();
        var code = await McpTunnel.Demo.DemoCommand.RunAsync(once: true, verbose: false, output, CancellationToken.None);
        var text = output.ToString();
        Assert.True(code == 0, text);
        foreach (var step in new[] { "websocket", "inner tls", "initialize", "tools/list", "tools/call", "session delete" })
        {
            Assert.Matches($@"ok\s+{step}\s", text);
        }

        Assert.Contains("Hello, operator!", text, StringComparison.Ordinal);
        Assert.Contains("demo OK", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/usr/bin/mcp-tunnel", "/usr/bin/mcp-tunnel")]
    [InlineData("/home/me/src/mcp tunnel/bin/mcp-tunnel", "'/home/me/src/mcp tunnel/bin/mcp-tunnel'")]
    [InlineData("/usr/lib/dotnet/dotnet", "/usr/lib/dotnet/dotnet /repo/bin/mcp-tunnel.dll")]
    public void The_demo_prints_how_to_run_this_very_binary(string processPath, string expected) =>
        Assert.Equal(expected, McpTunnel.Demo.DemoCommand.SelfCommand(processPath, "/repo/bin/"));

    [Fact]
    public async Task Probe_reports_a_wrong_ca_as_a_failed_step_and_exits_1()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://10.0.0.5:{upstream.Port}");
        using var other = new TempDirectory();
        var caFile = other.Write("ca.crt", new TestPki().Ca.CertificatePem);
        var output = new StringWriter();
        var code = await ProbeCommand.RunAsync(new ProbeCommand.Arguments(
            null, gateway.WebSocketUri.ToString(), null, GatewayHarness.Host("echo"), caFile, "/mcp", false, false, null, "{}", TimeSpan.FromSeconds(10)),
            output, new StringWriter(), CancellationToken.None);
        Assert.Equal(1, code);
        Assert.Contains("FAIL connect", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("unknown certificate authority", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_names_the_ip_policy_and_a_missing_route_for_what_they_are()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"local: http://127.0.0.1:{upstream.Port}");
        async Task<string> ProbeAsync(string route)
        {
            var output = new StringWriter();
            var code = await ProbeCommand.RunAsync(new ProbeCommand.Arguments(
                null, gateway.WebSocketUri.ToString(), null, GatewayHarness.Host(route), null, "/mcp", false, true, null, "{}", TimeSpan.FromSeconds(10)),
                output, new StringWriter(), CancellationToken.None);
            Assert.Equal(1, code);
            return output.ToString();
        }

        var refused = await ProbeAsync("local");
        Assert.Contains("FAIL initialize", refused, StringComparison.Ordinal);
        Assert.Contains("HTTP 502 from the gateway's IP policy: the route's upstream address is not in upstream.allowed_ips", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("no route", refused, StringComparison.OrdinalIgnoreCase);

        var missing = await ProbeAsync("wiki");
        Assert.Contains($"HTTP 502 No route configured for host: the gateway has no route for {GatewayHarness.Host("wiki")}", missing, StringComparison.Ordinal);
        Assert.DoesNotContain("IP policy", missing, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_reads_gateway_domain_and_ca_from_the_config()
    {
        await using var mcp = await TestMcpServer.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{mcp.Port}", "upstream:\n  allowed_ips: [127.0.0.1]");
        // A config like the gateway's, but with the real port the test gateway listens on.
        var config = gateway.Directory.Write("probe.yaml", $"""
            listen_addr: "127.0.0.1:{gateway.HttpUri.Port}"
            tunnel_domain: {TestPki.Domain}
            tls: {"{"} cert_file: tls.crt, key_file: tls.key {"}"}
            routes: {"{"} echo: http://127.0.0.1:{mcp.Port} {"}"}
            """);
        var output = new StringWriter();
        var code = await ProbeCommand.RunAsync(new ProbeCommand.Arguments(
            config, null, null, null, null, "/mcp", true, false, "hello", """{"name":"probe"}""", TimeSpan.FromSeconds(10)),
            output, new StringWriter(), CancellationToken.None);
        Assert.True(code == 0, output.ToString());
        Assert.Contains("alpn=h2", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("hello -> Hello, probe!", output.ToString(), StringComparison.Ordinal);
    }
}
