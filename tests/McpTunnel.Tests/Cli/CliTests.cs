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
    public void Config_validate_exits_0_for_a_good_file_and_1_with_every_problem_for_a_bad_one()
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
        Assert.Equal(0, ValidateCommand.Run(good, null, output, error));
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
        Assert.Equal(1, ValidateCommand.Run(bad, null, new StringWriter(), error));
        var text = error.ToString();
        Assert.Contains("bad.yaml:4:3: routes: cannot unmarshal !!seq into map[string]string", text, StringComparison.Ordinal);
        Assert.Contains("mutually exclusive", text, StringComparison.Ordinal);
        Assert.Contains("invalid configuration: 2 errors", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_validate_catches_a_key_that_does_not_match_the_certificate()
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
        Assert.Equal(1, ValidateCommand.Run(path, null, new StringWriter(), error));
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
