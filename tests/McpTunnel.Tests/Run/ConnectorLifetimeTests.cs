using McpTunnel.Commands;
using McpTunnel.Configuration;
using McpTunnel.Run;
using McpTunnel.Tests.Connector;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Run;

/// <summary>
/// The connector's part of <c>run</c>: what is checked before the gateway starts (binary, token), the files it
/// prepares, and the token watch that restarts cloudflared, on a fake clock.
/// </summary>
public sealed class ConnectorLifetimeTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly CapturingLoggerProvider _logs = new();
    private readonly Dictionary<string, string?> _environment = [];

    public ConnectorLifetimeTests() => new TestPki().WriteTo(_directory);

    private GatewayConfig Config(string binary)
    {
        var path = _directory.Write("config.yaml", $"""
            listen_addr: "127.0.0.1:0"
            tunnel_domain: {TestPki.Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes: {"{}"}
            appliance:
              data_dir: {_directory.Path}
              cloudflared:
                binary: {binary}
            """);
        var (config, _) = ConfigFiles.LoadForAppliance(path, null, TextWriter.Null);
        Assert.NotNull(config);
        return config;
    }

    private ConnectorLifetime? Prepare(GatewayConfig config) =>
        ConnectorLifetime.Prepare(config, name => _environment.GetValueOrDefault(name), _time, _logs.CreateLogger("McpTunnel.Run"), _logs.CreateLogger("McpTunnel.Connector"));

    /// <summary>A "cloudflared" that cannot say its version: the supervisor then waits for the binary to change and starts nothing.</summary>
    private string BrokenBinary()
    {
        var binary = _directory.Write("cloudflared", "#!/bin/sh\nexit 1\n");
        File.SetUnixFileMode(binary, (UnixFileMode)0b111_000_000);
        return binary;
    }

    [Fact]
    public void Without_the_binary_it_says_where_it_looked_and_what_to_do()
    {
        var missing = _directory.File("no-such-cloudflared");
        Assert.Null(Prepare(Config(missing)));
        Assert.Contains($"cloudflared not found at {missing}: install it there, set appliance.cloudflared.binary, or run with --no-connector if cloudflared runs elsewhere", _logs.Messages);
    }

    [Fact]
    public void Without_a_token_it_names_every_place_it_looked()
    {
        Assert.Null(Prepare(Config(BrokenBinary())));
        var line = Assert.Single(_logs.Messages, m => m.StartsWith("no tunnel token: ", StringComparison.Ordinal));
        Assert.Contains($"the systemd credential tunnel-token, {_directory.File("tunnel-token")}, or TUNNEL_TOKEN", line, StringComparison.Ordinal);
        Assert.False(File.Exists(_directory.File("cloudflared.yml")));
    }

    [Fact]
    public void Prepared_it_writes_cloudflareds_empty_config_owner_only_in_the_runtime_directory()
    {
        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        var runtime = Directory.CreateDirectory(_directory.File("runtime")).FullName;
        _environment["RUNTIME_DIRECTORY"] = runtime;
        using var connector = Prepare(Config(BrokenBinary()));
        Assert.NotNull(connector);
        var file = Path.Combine(runtime, "cloudflared.yml");
        Assert.Equal("{}\n", File.ReadAllText(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
    }

    [Fact]
    public async Task A_rotated_token_restarts_cloudflared_at_the_next_poll_of_the_clock()
    {
        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        using var connector = Prepare(Config(BrokenBinary()));
        Assert.NotNull(connector);
        using var stopping = new CancellationTokenSource();
        connector.Start(new Uri("http://127.0.0.1:8080"), _ => { }, stopping.Token);

        _directory.Write("tunnel-token", CloudflaredSupervisorTests.NewToken() + "\n");
        _time.Advance(TokenWatcher.PollInterval - TimeSpan.FromSeconds(1));
        Assert.False(_logs.Contains("tunnel token changed"));
        // The fake clock runs the poll inside Advance: the restart is asked for by the time it returns.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(_logs.Contains("tunnel token changed; restarting cloudflared gracefully"));

        await stopping.CancelAsync();
        await connector.Stopped.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(connector.IsFaulted);
    }

    public void Dispose() => _directory.Dispose();
}
