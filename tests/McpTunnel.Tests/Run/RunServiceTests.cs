using System.Net.Sockets;
using System.Text.RegularExpressions;
using McpTunnel.Commands;
using McpTunnel.Run;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Serilog.Core;
using Serilog.Events;

namespace McpTunnel.Tests.Run;

/// <summary>
/// <c>run</c>'s composition in the test process: a real gateway on loopback, a fake clock, a recording notifier and
/// a reload trigger in place of SIGHUP. The whole process (signals, the cloudflared stand-in) is RunCommandTests.
/// </summary>
public sealed partial class RunServiceTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly RecordingNotifier _notifier = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly Dictionary<string, string?> _environment = [];
    private readonly TaskCompletionSource<Action> _reload = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _config;
    private bool _reloadUnsubscribed;
    private IReadOnlyList<string> _notifiedBeforeReloadSubscribed = [];
    private Task<int>? _running;

    public RunServiceTests()
    {
        new TestPki().WriteTo(_directory);
        _config = Write("127.0.0.1:0", "echo: http://127.0.0.1:9");
    }

    private string Write(string listen, string routes, string binary = "") => _directory.Write("config.yaml", $"""
        listen_addr: "{listen}"
        shutdown_timeout: 5s
        tunnel_domain: {TestPki.Domain}
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes:
          {routes.Replace("\n", "\n  ", StringComparison.Ordinal)}
        appliance:
          data_dir: {_directory.Path}
          cloudflared:
            binary: {(binary.Length == 0 ? _directory.File("no-cloudflared") : binary)}
        """);

    private Task<int> Start(bool noConnector = true)
    {
        var (config, _) = ConfigFiles.LoadForAppliance(_config, null, TextWriter.Null);
        Assert.NotNull(config);
        var service = new RunService(new RunServiceOptions
        {
            Config = config,
            ConfigPath = _config,
            NoConnector = noConnector,
            Logs = _logs,
            LogLevels = new LoggingLevelSwitch(LogEventLevel.Information),
            Notifier = _notifier,
            Time = _time,
            Environment = name => _environment.GetValueOrDefault(name),
            SubscribeReload = reload =>
            {
                _notifiedBeforeReloadSubscribed = _notifier.All;
                _reload.TrySetResult(reload);
                return new Unsubscribe(() => _reloadUnsubscribed = true);
            },
        });
        _running = Task.Run(() => service.RunAsync(_stop.Token));
        return _running;
    }

    [GeneratedRegex(@"gateway listening address=(127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    private async Task<string> GatewayAddressAsync() => Listening().Match((await _logs.WaitForAsync("gateway listening address=")).Message).Groups[1].Value;

    private static async Task<bool> AcceptsAsync(string address)
    {
        using var client = new TcpClient();
        try
        {
            var colon = address.LastIndexOf(':');
            await client.ConnectAsync(address[..colon], int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)).WaitAsync(TimeSpan.FromSeconds(10));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task Systemd_hears_READY_once_the_gateway_accepts_connections()
    {
        _ = Start();
        var ready = await _notifier.WaitForAsync("READY=1");
        Assert.Equal("READY=1\nSTATUS=gateway listening on 127.0.0.1:0", ready);
        Assert.Equal("STATUS=starting", _notifier.All[0]);
        Assert.True(await AcceptsAsync(await GatewayAddressAsync()));
    }

    [Fact]
    public async Task A_reload_is_taken_only_once_listening_and_reads_the_file_again()
    {
        _ = Start();
        var reload = await _reload.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(_notifiedBeforeReloadSubscribed, n => n.StartsWith("READY=1", StringComparison.Ordinal));

        Write("127.0.0.1:0", "echo: http://127.0.0.1:9\nsecond: http://127.0.0.1:9");
        reload();
        await _logs.WaitForAsync("configuration reloaded routes=2");
        var afterReady = _notifier.All.SkipWhile(n => !n.StartsWith("READY=1", StringComparison.Ordinal)).Skip(1).ToList();
        Assert.StartsWith("RELOADING=1\nMONOTONIC_USEC=", afterReady[0], StringComparison.Ordinal);
        Assert.Equal("READY=1\nSTATUS=gateway listening on 127.0.0.1:0", afterReady[1]);
    }

    [Fact]
    public async Task Stopping_says_STOPPING_closes_the_listener_and_returns_0()
    {
        var running = Start();
        await _reload.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var address = await GatewayAddressAsync();
        await _stop.CancelAsync();
        Assert.Equal(ExitCodes.Ok, await running.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("STOPPING=1\nSTATUS=stopping: draining in-flight requests", _notifier.All[^1]);
        Assert.True(_reloadUnsubscribed);
        Assert.False(await AcceptsAsync(address));
    }

    [Fact]
    public async Task The_watchdog_pings_on_the_injected_clock_while_the_gateway_listens()
    {
        _environment["WATCHDOG_USEC"] = "10000000";
        _ = Start();
        // The watchdog starts before the reload subscription, so it exists once that has happened.
        await _reload.Task.WaitAsync(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.Zero);
        Assert.Equal(1, _notifier.Count("WATCHDOG=1"));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(2, _notifier.Count("WATCHDOG=1"));
    }

    [Fact]
    public async Task Without_cloudflared_it_fails_before_listening_and_says_why()
    {
        Assert.Equal(ExitCodes.Failure, await Start(noConnector: false).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(["STATUS=starting"], _notifier.All);
        Assert.True(_logs.Contains($"cloudflared not found at {_directory.File("no-cloudflared")}"));
        Assert.False(_reload.Task.IsCompleted);
    }

    [Fact]
    public async Task A_listen_address_in_use_fails_the_start_with_the_reason()
    {
        using var taken = LoopbackPort.Listen();
        var address = $"127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";
        Write(address, "echo: http://127.0.0.1:9");
        Assert.Equal(ExitCodes.Failure, await Start().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(_logs.Messages, m => m.StartsWith($"cannot listen on {address}: ", StringComparison.Ordinal));
        Assert.DoesNotContain(_notifier.All, n => n.Contains("READY=1", StringComparison.Ordinal));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_running is not null)
        {
            await _running.WaitAsync(TimeSpan.FromSeconds(30));
        }

        _stop.Dispose();
        _directory.Dispose();
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
