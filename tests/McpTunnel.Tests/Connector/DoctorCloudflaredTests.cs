using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using McpTunnel.Commands;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Connector;

/// <summary><c>doctor</c>'s cloudflared checks, against the stand-in: the version and the exact command line of <c>run</c>.</summary>
public sealed class DoctorCloudflaredTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly string _closed;

    public DoctorCloudflaredTests()
    {
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        // A loopback port nobody listens on: the outbound checks fail fast, and nothing leaves the host.
        _closed = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
    }

    private string Config(Dictionary<string, string> knobs)
    {
        StandIn.Wrapper(_directory, knobs);
        return _directory.Write("config.yaml", $"""
            listen_addr: "127.0.0.1:8080"
            tunnel_domain: {TestPki.Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes: {"{}"}
            appliance:
              data_dir: {_directory.Path}
              cloudflared:
                binary: {_directory.File("cloudflared")}
            """);
    }

    private async Task<Dictionary<string, (string Result, string Detail)>> DoctorAsync(Dictionary<string, string> knobs)
    {
        var output = new StringWriter();
        await DoctorCommand.RunAsync(new DoctorCommand.Arguments(Config(knobs), true, _closed, _closed, "/mcp", TimeSpan.FromSeconds(2)), output, CancellationToken.None);
        return Checks(output.ToString());
    }

    private static Dictionary<string, (string Result, string Detail)> Checks(string json) =>
        JsonDocument.Parse(json).RootElement.EnumerateArray()
            .ToDictionary(c => c.GetProperty("check").GetString()!, c => (c.GetProperty("result").GetString()!, c.GetProperty("detail").GetString()!));

    [Fact]
    public async Task A_supported_cloudflared_passes_with_its_version_and_the_command_line_run_would_use()
    {
        var checks = await DoctorAsync(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2026.8.2" });
        var (result, detail) = checks["cloudflared"];
        Assert.True(result == "pass", detail);
        Assert.Contains("2026.8.2", detail, StringComparison.Ordinal);
        Assert.Contains("accepts the command line", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_too_old_cloudflared_fails_in_the_words_run_uses()
    {
        var (result, detail) = (await DoctorAsync(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2024.12.2" }))["cloudflared"];
        Assert.Equal("fail", result);
        Assert.Contains("cloudflared 2024.12.2", detail, StringComparison.Ordinal);
        Assert.Contains("older than 2025.4.0", detail, StringComparison.Ordinal);
        Assert.Contains("--token-file", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cloudflared_that_rejects_runs_command_line_fails_naming_the_flag()
    {
        // A DEV build cannot say which release it is, so only the command line itself can tell.
        var (result, detail) = (await DoctorAsync(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "DEV", ["FAKE_CLOUDFLARED_SOURCE"] = "2026.3.0" }))["cloudflared"];
        Assert.Equal("fail", result);
        Assert.Contains("flag provided but not defined: -no-prechecks", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_check_works_from_a_working_directory_that_is_gone()
    {
        // sudo -u mcp-tunnel from /root: the caller's directory cannot be entered by the service user. A deleted
        // directory makes the same point for root: children must not inherit it.
        var config = Config(new Dictionary<string, string> { ["FAKE_CLOUDFLARED_VERSION"] = "2026.8.2" });
        var cwd = Directory.CreateTempSubdirectory("mcp-tunnel-cwd-").FullName;
        await using var doctor = McpTunnelProcess.Start(["doctor", "--config", config, "--json", "--api-target", _closed, "--edge-target", _closed, "--timeout", "2s"], workingDirectory: cwd);
        await doctor.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var json = doctor.Output[doctor.Output.IndexOf('[', StringComparison.Ordinal)..];
        var (result, detail) = Checks(json)["cloudflared"];
        Assert.True(result == "pass", detail);
    }

    public void Dispose() => _directory.Dispose();
}
