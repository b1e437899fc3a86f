using System.Runtime.InteropServices;
using System.Security.Cryptography;
using McpTunnel.Commands;
using McpTunnel.Configuration;
using McpTunnel.Connector;
using McpTunnel.Credentials;
using McpTunnel.Gateway;
using McpTunnel.Logging;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Run;

/// <summary>
/// <c>mcp-tunnel run</c>, what the service runs: the gateway, the supervised cloudflared, the health listener,
/// systemd notification, SIGHUP reload and token-rotation restarts.
/// <remarks>
/// Shutdown order on SIGTERM/SIGINT: STOPPING=1; cloudflared gets its stop signal (it unregisters from the edge
/// at once, so no new requests arrive, and drains for its grace period, shorter than ours) while the gateway
/// stops accepting and drains in-flight requests up to <c>shutdown_timeout</c>; both are awaited; exit 0.
/// </remarks>
/// </summary>
internal static class RunCommand
{
    private static readonly TimeSpan TokenPollInterval = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string? configPath, string? tunnelDomain, string logFormat, bool noConnector)
    {
        var path = configPath ?? ConfigFiles.DefaultPath;
        var (config, _) = ConfigFiles.LoadForAppliance(path, tunnelDomain, Console.Error);
        if (config is null)
        {
            return ExitCodes.Failure;
        }

        using var log = LogSetup.Create(logFormat, config.LogLevel);
        using var provider = LogSetup.Provider(log);
        var logger = provider.CreateLogger("McpTunnel.Run");
        using var notifier = new SystemdNotifier(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));
        using var signal = new ShutdownSignal();
        notifier.Status("starting");

        CloudflaredSupervisor? connector = null;
        TokenSource? tokenWatched = null;
        if (config.Appliance.Cloudflared.Enabled && !noConnector)
        {
            var prepared = PrepareConnector(config, logger, provider.CreateLogger("McpTunnel.Connector"));
            if (prepared is null)
            {
                return ExitCodes.Failure;
            }

            (connector, tokenWatched) = prepared.Value;
        }

        using var connectorMeter = connector is null ? null : ConnectorInstruments.Create(connector);
        GatewayServer? server = null;
        var health = config.Appliance.HealthAddr is null ? null : new HealthEndpoint(() => server, connector, TimeProvider.System);
        try
        {
            server = GatewayServer.Create(config, provider, health: health is null ? null : health.HandleAsync, certificateCheck: ServerCertificateAdvice.For(config));
        }
        catch (CertificateLoadException ex)
        {
            RunLog.CannotStart(logger, ex.Message);
            return ExitCodes.Failure;
        }

        using var stopping = new CancellationTokenSource();
        await using (server.ConfigureAwait(false))
        {
            try
            {
                await server.StartAsync(signal.Token).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                RunLog.CannotListen(logger, config.ListenAddr.ToString(), ex.Message);
                return ExitCodes.Failure;
            }

            var status = new ServiceStatus(notifier,
                connector is null ? $"gateway listening on {config.ListenAddr}" : $"gateway listening on {config.ListenAddr}; waiting for cloudflared to connect",
                () => server.Routes.Routes.Any());
            if (!config.Routes.Any())
            {
                RunLog.NoRoutes(logger, path);
            }

            status.Ready();
            if (connector is not null)
            {
                // cloudflared dials the address actually bound (listen_addr may say port 0).
                connector.SetGatewayUrl(ConnectorSetup.GatewayUrl(config.ListenAddr, server.ListenUris[0].Port));
                connector.StatusChanged += status.TunnelChanged;
            }

            var connectorTask = connector?.RunAsync(stopping.Token) ?? Task.CompletedTask;
            using var tokenWatch = tokenWatched is null ? null : WatchToken(tokenWatched, connector!);
            using var watchdog = StartWatchdog(notifier, server, connectorTask);
            using var reload = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                Reload(path, tunnelDomain, server, notifier, status, logger);
            });
            AppDomain.CurrentDomain.UnhandledException += (_, _) =>
            {
                // Our own crash must not leave cloudflared behind (two of them during a token rotation).
                foreach (var pid in connector?.ProcessIds ?? [])
                {
                    try
                    {
                        System.Diagnostics.Process.GetProcessById(pid).Kill();
                    }
                    catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
                    {
                        // Already gone.
                    }
                }
            };

            await signal.WaitAsync().ConfigureAwait(false);
            notifier.Notify("STOPPING=1\nSTATUS=stopping: draining in-flight requests");
            await stopping.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(server.StopAsync(), connectorTask).ConfigureAwait(false);
        }

        connector?.Dispose();
        return ExitCodes.Ok;
    }

    private static (CloudflaredSupervisor Supervisor, TokenSource Watched)? PrepareConnector(GatewayConfig config, ILogger logger, ILogger connectorLogger)
    {
        var settings = config.Appliance.Cloudflared;
        if (!File.Exists(settings.Binary))
        {
            RunLog.NoCloudflared(logger, settings.Binary);
            return null;
        }

        var token = ConnectorSetup.Token(config, Environment.GetEnvironmentVariable);
        if (token is null)
        {
            RunLog.NoToken(logger, Path.Combine(config.Appliance.DataDir, DataDirectory.TunnelToken));
            return null;
        }

        // The gateway's bound address replaces this once it listens.
        var options = ConnectorSetup.Options(config, token, new Uri($"http://{config.ListenAddr.DialAuthority}"), Environment.GetEnvironmentVariable);
        AtomicFile.Write(options.ConfigFile, "{}\n");
        return (new CloudflaredSupervisor(options, connectorLogger), token.Watched);
    }

    /// <summary>Restarts cloudflared gracefully when the token file's content changes (rotation).</summary>
    private static ITimer WatchToken(TokenSource source, CloudflaredSupervisor connector)
    {
        var path = source.Path;
        var last = Hash(path);
        return TimeProvider.System.CreateTimer(_ =>
        {
            var current = Hash(path);
            if (current is not null && last is not null && !current.AsSpan().SequenceEqual(last))
            {
                last = current;
                connector.RestartForNewToken(source);
            }
            else if (last is null)
            {
                last = current;
            }
        }, null, TokenPollInterval, TokenPollInterval);

        static byte[]? Hash(string file)
        {
            try
            {
                return SHA256.HashData(File.ReadAllBytes(file));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    private static ITimer? StartWatchdog(SystemdNotifier notifier, GatewayServer server, Task connector)
    {
        if (SystemdNotifier.WatchdogInterval(Environment.GetEnvironmentVariable) is not { } interval)
        {
            return null;
        }

        // Pings only while the process is healthy: the gateway is up and the supervisor loop is alive.
        return TimeProvider.System.CreateTimer(_ =>
        {
            if (server.ListenUris.Count > 0 && !connector.IsFaulted)
            {
                notifier.Notify("WATCHDOG=1");
            }
        }, null, TimeSpan.Zero, interval);
    }

    private static void Reload(string path, string? tunnelDomain, GatewayServer server, SystemdNotifier notifier, ServiceStatus status, ILogger logger)
    {
        notifier.Notify($"RELOADING=1\nMONOTONIC_USEC={System.Diagnostics.Stopwatch.GetTimestamp() / (System.Diagnostics.Stopwatch.Frequency / 1_000_000)}");
        var (result, _) = ConfigFiles.LoadResultForAppliance(path, tunnelDomain);
        if (!result.Succeeded)
        {
            foreach (var problem in result.Errors)
            {
                RunLog.ReloadProblem(logger, problem.ToString());
            }

            RunLog.ReloadRejected(logger);
            status.Reloaded(accepted: false);
            return;
        }

        try
        {
            server.Reload(result.Config!);
            LogSetup.LevelSwitch.MinimumLevel = LogSetup.ParseLevel(result.Config!.LogLevel);
            if (!result.Config!.Routes.Any())
            {
                RunLog.NoRoutes(logger, path);
            }

            status.Reloaded(accepted: true);
        }
        catch (CertificateLoadException ex)
        {
            RunLog.ReloadProblem(logger, ex.Message);
            RunLog.ReloadRejected(logger);
            status.Reloaded(accepted: false);
        }
    }
}

/// <summary>Log lines of the run command (stable strings).</summary>
internal static partial class RunLog
{
    [LoggerMessage(3000, LogLevel.Error, "cannot start: {Reason}")]
    public static partial void CannotStart(ILogger logger, string reason);

    [LoggerMessage(3001, LogLevel.Error, "cannot listen on {Address}: {Reason}")]
    public static partial void CannotListen(ILogger logger, string address, string reason);

    [LoggerMessage(3002, LogLevel.Error, "cloudflared not found at {Binary}: install it there, set appliance.cloudflared.binary, or run with --no-connector if cloudflared runs elsewhere")]
    public static partial void NoCloudflared(ILogger logger, string binary);

    [LoggerMessage(3003, LogLevel.Error, "no tunnel token: expected the systemd credential tunnel-token, {File}, or TUNNEL_TOKEN; run mcp-tunnel setup init, or store the token from the Console with mcp-tunnel token set < token.txt")]
    public static partial void NoToken(ILogger logger, string file);

    [LoggerMessage(3004, LogLevel.Error, "reload rejected: {Problem}")]
    public static partial void ReloadProblem(ILogger logger, string problem);

    [LoggerMessage(3005, LogLevel.Error, "reload rejected; the current configuration stays in force")]
    public static partial void ReloadRejected(ILogger logger);

    [LoggerMessage(3006, LogLevel.Warning, "no routes configured: every request gets 502 No route configured for host; add routes to {Config} and reload")]
    public static partial void NoRoutes(ILogger logger, string config);
}
