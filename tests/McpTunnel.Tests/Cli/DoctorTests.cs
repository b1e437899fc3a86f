using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using McpTunnel.Commands;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Cli;

/// <summary>`doctor` on a broken setup and on a working one; every outbound target is on loopback.</summary>
public sealed class DoctorTests
{
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task A_broken_setup_gets_a_fail_line_with_a_fix_for_each_problem()
    {
        using var directory = new TempDirectory();
        var pki = new TestPki();
        var data = Directory.CreateDirectory(directory.File("data")).FullName;
        File.WriteAllText(Path.Combine(data, "tls.crt"), pki.Server.CertificatePem);
        File.WriteAllText(Path.Combine(data, "tls.key"), pki.NewServerCertificate().PrivateKeyPem); // wrong key
        File.WriteAllText(Path.Combine(data, "ca.crt"), pki.Ca.CertificatePem);
        File.WriteAllText(Path.Combine(data, "tunnel-token"), "truncated-eyJhIjoi");
        File.SetUnixFileMode(data, (UnixFileMode)0b111_101_101);
        var config = directory.Write("config.yaml", $"""
            listen_addr: "127.0.0.1:{ClosedPort()}"
            tunnel_domain: {TestPki.Domain}
            tls: {"{"} cert_file: data/tls.crt, key_file: data/tls.key {"}"}
            routes:
              local: http://127.0.0.1:{ClosedPort()}
            appliance:
              data_dir: data
              cloudflared: {"{"} binary: /nonexistent/cloudflared {"}"}
            """);
        var output = new StringWriter();

        var code = await DoctorCommand.RunAsync(new DoctorCommand.Arguments(config, false, $"127.0.0.1:{ClosedPort()}", $"127.0.0.1:{ClosedPort()}", "/mcp", TimeSpan.FromSeconds(2)), output, CancellationToken.None);

        var text = output.ToString();
        Assert.Equal(1, code);
        Assert.Matches(@"FAIL\s+data directory\s+.* mode 0755", text);
        Assert.Contains("fix: chmod 0700", text, StringComparison.Ordinal);
        Assert.Matches(@"FAIL\s+certificate\s+.*private key matches tls.crt", text);
        Assert.Matches(@"FAIL\s+tunnel token\s+.*not a connector token", text);
        Assert.DoesNotContain("truncated-eyJhIjoi", text, StringComparison.Ordinal);
        Assert.Matches(@"FAIL\s+cloudflared\s+/nonexistent/cloudflared not found", text);
        Assert.Matches(@"FAIL\s+gateway probe", text);
        Assert.Matches(@"FAIL\s+route local ip policy\s+IP validation failed: 127.0.0.1 is not a private address", text);
        Assert.Matches(@"FAIL\s+outbound api\s+127.0.0.1:\d+ unreachable", text);
        Assert.Matches(@"FAIL\s+outbound edge\s+127.0.0.1:\d+ unreachable", text);
        // An air-gapped host is told how to say so, instead of failing for ever.
        Assert.Equal(2, text.Split('\n').Count(l => l.Contains("fix: ", StringComparison.Ordinal) && l.Contains("skip this check: doctor --offline, or appliance.offline: true", StringComparison.Ordinal)));
        Assert.Contains("doctor: ", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("online")]
    [InlineData("--offline")]
    [InlineData("appliance.offline")]
    public async Task A_working_setup_passes_every_hop_and_json_output_parses(string mode)
    {
        await using var mcp = await TestMcpServer.StartAsync();
        var pki = new TestPki();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{mcp.Port}", "upstream:\n  allowed_ips: [127.0.0.1/32]", pki);
        var directory = gateway.Directory;
        File.SetUnixFileMode(directory.Path, (UnixFileMode)0b111_000_000);
        foreach (var file in Directory.EnumerateFiles(directory.Path))
        {
            File.SetUnixFileMode(file, (UnixFileMode)0b110_000_000);
        }

        directory.Write("tunnel-token", McpTunnel.Tests.Connector.CloudflaredSupervisorTests.NewToken() + "\n");
        File.SetUnixFileMode(directory.File("tunnel-token"), (UnixFileMode)0b110_000_000);
        var cloudflared = StandIn.Wrapper(directory, new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2026.11.0" });
        using var api = new TcpListener(IPAddress.Loopback, 0);
        api.Start();
        // Offline, the outbound targets are closed ports: a dial would fail, so a pass shows none was made.
        var target = mode == "online" ? $"127.0.0.1:{((IPEndPoint)api.LocalEndpoint).Port}" : $"127.0.0.1:{ClosedPort()}";
        var config = directory.Write("doctor.yaml", $"""
            listen_addr: "127.0.0.1:{gateway.HttpUri.Port}"
            tunnel_domain: {TestPki.Domain}
            tls: {"{"} cert_file: tls.crt, key_file: tls.key {"}"}
            routes: {"{"} echo: http://127.0.0.1:{mcp.Port} {"}"}
            upstream: {"{"} allowed_ips: [127.0.0.1/32] {"}"}
            appliance:
              data_dir: {directory.Path}
              cloudflared: {"{"} binary: {cloudflared} {"}"}
              offline: {(mode == "appliance.offline" ? "true" : "false")}
            """);
        File.SetUnixFileMode(config, (UnixFileMode)0b110_000_000);
        var output = new StringWriter();

        var code = await DoctorCommand.RunAsync(new DoctorCommand.Arguments(config, true, target, target, "/mcp", TimeSpan.FromSeconds(5), Offline: mode == "--offline"), output, CancellationToken.None);

        var checks = JsonDocument.Parse(output.ToString()).RootElement.EnumerateArray()
            .ToDictionary(c => c.GetProperty("check").GetString()!, c => (c.GetProperty("result").GetString(), c.GetProperty("detail").GetString()));
        Assert.True(code == 0, output.ToString());
        foreach (var name in new[] { "config", "data directory", "file modes", "certificate", "certificate expiry", "tunnel token", "cloudflared", "gateway probe",
            "route echo dns", "route echo ip policy", "route echo tcp", "route echo mcp" })
        {
            Assert.Equal("pass", checks[name].Item1);
        }

        foreach (var name in new[] { "outbound api", "outbound edge" })
        {
            Assert.Equal(mode == "online" ? "pass" : "skip", checks[name].Item1);
            if (mode != "online")
            {
                Assert.StartsWith("skipped (offline)", checks[name].Item2, StringComparison.Ordinal);
            }
        }

        Assert.Contains("cloudflared version 2026.11.0", checks["cloudflared"].Item2, StringComparison.Ordinal);
        Assert.Contains("allowed by 127.0.0.1/32", checks["route echo ip policy"].Item2, StringComparison.Ordinal);
        Assert.Contains("certificate verified against ca.crt", checks["gateway probe"].Item2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_checks_https_routes_on_the_path_requests_take_and_agrees_with_the_gateway()
    {
        // Issue 10 #2: doctor said "TLS verified" for a route whose every request failed, because it made its own
        // connection with another server name. Now both go through the gateway's connector and trust.
        using var pki = new UpstreamPki();
        await using var named = await HttpsUpstream.StartAsync(pki.Issue("localhost"));
        await using var literal = await HttpsUpstream.StartAsync(pki.Issue("127.0.0.1"));
        using var trust = new TempDirectory();
        var caFile = trust.Write("upstream-ca.crt", pki.CaPem);
        var routes = $"""
            named: https://localhost:{named.Port}
            literal: https://127.0.0.1:{literal.Port}
            wrongname: https://127.0.0.1:{named.Port}
            """;
        var upstreamYaml = $"upstream:\n  allowed_ips: [127.0.0.0/8]\n  tls:\n    ca_file: {caFile}";
        await using var gateway = await GatewayHarness.StartAsync(routes, upstreamYaml);
        var config = gateway.Directory.Write("doctor.yaml", $"""
            listen_addr: "127.0.0.1:{ClosedPort()}"
            tunnel_domain: {TestPki.Domain}
            tls: {"{"} cert_file: tls.crt, key_file: tls.key {"}"}
            routes:
              named: https://localhost:{named.Port}
              literal: https://127.0.0.1:{literal.Port}
              wrongname: https://127.0.0.1:{named.Port}
            {upstreamYaml}
            appliance:
              data_dir: {gateway.Directory.Path}
              cloudflared: {"{"} enabled: false {"}"}
            """);
        var output = new StringWriter();
        await DoctorCommand.RunAsync(new DoctorCommand.Arguments(config, true, $"127.0.0.1:{ClosedPort()}", $"127.0.0.1:{ClosedPort()}", "/mcp", TimeSpan.FromSeconds(5)), output, CancellationToken.None);
        var checks = JsonDocument.Parse(output.ToString()).RootElement.EnumerateArray()
            .ToDictionary(c => c.GetProperty("check").GetString()!, c => (Result: c.GetProperty("result").GetString(), Detail: c.GetProperty("detail").GetString()!));

        using var http = gateway.CreateClient();
        foreach (var route in new[] { "named", "literal", "wrongname" })
        {
            using var response = await http.PostAsync(new Uri($"https://{GatewayHarness.Host(route)}/mcp"), new StringContent("{}"));
            var gatewayServes = response.IsSuccessStatusCode;
            var doctorPasses = checks.TryGetValue($"route {route} mcp", out var mcp) && mcp.Result == "pass";
            Assert.True(gatewayServes == doctorPasses, $"{route}: gateway {(int)response.StatusCode}, doctor {output}");
        }

        Assert.Equal("pass", checks["route named tls"].Result);
        Assert.Contains("certificate for localhost verified", checks["route named tls"].Detail, StringComparison.Ordinal);
        Assert.Contains($"Host named.{TestPki.Domain}", checks["route named mcp"].Detail, StringComparison.Ordinal);
        Assert.Equal("pass", checks["route literal tls"].Result);
        Assert.Equal("fail", checks["route wrongname tls"].Result);
        Assert.Contains("tls handshake with 127.0.0.1", checks["route wrongname tls"].Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("route wrongname mcp", checks.Keys);
    }
}
