using McpTunnel.Commands;
using McpTunnel.Configuration;
using McpTunnel.Gateway;
using McpTunnel.Gateway.Tls;
using McpTunnel.Hosting;
using McpTunnel.Operations;
using McpTunnel.Operations.Health;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Run;

/// <summary>
/// What <c>mcp-tunnel run</c> runs, as an object: the gateway, the supervised cloudflared
/// (<see cref="ConnectorLifetime"/>), the health listener, systemd notification (<see cref="ServiceStatus"/>,
/// <see cref="Watchdog"/>) and reloads (<see cref="ReloadCoordinator"/>), all on one injected clock and
/// environment, so it runs in a test process as it runs under systemd. <see cref="RunCommand"/> gives it the
/// process's own: signals, environment, <c>$NOTIFY_SOCKET</c>.
/// </summary>
/// <remarks>
/// Shutdown order when <c>stop</c> is cancelled (SIGTERM/SIGINT): STOPPING=1; cloudflared gets its stop signal (it
/// unregisters from the edge at once, so no new requests arrive, and drains for its grace period, shorter than
/// ours) while the gateway stops accepting and drains in-flight requests up to <c>shutdown_timeout</c>; both are
/// awaited; exit 0.
/// </remarks>
internal sealed class RunService(RunServiceOptions options)
{
    public async Task<int> RunAsync(CancellationToken stop)
    {
        var config = options.Config;
        var time = options.Time;
        var notifier = options.Notifier;
        var logger = options.Logs.CreateLogger("McpTunnel.Run");
        notifier.Notify("STATUS=starting");

        ConnectorLifetime? connector = null;
        if (config.Appliance.Cloudflared.Enabled && !options.NoConnector)
        {
            connector = ConnectorLifetime.Prepare(config, options.Environment, time, logger, options.Logs.CreateLogger("McpTunnel.Connector"));
            if (connector is null)
            {
                return ExitCodes.Failure;
            }
        }

        using (connector)
        {
            return await ServeAsync(config, connector, logger, stop).ConfigureAwait(false);
        }
    }

    private async Task<int> ServeAsync(GatewayConfig config, ConnectorLifetime? connector, ILogger logger, CancellationToken stop)
    {
        var time = options.Time;
        var notifier = options.Notifier;
        GatewayServer? server = null;
        using var connectorMeter = connector is null ? null : ConnectorInstruments.Create(connector.Supervisor);
        var health = config.Appliance.HealthAddr is null ? null : new HealthEndpoint(connector?.Supervisor, time);
        try
        {
            server = GatewayServer.Create(config, options.Logs, time, health: health, certificateCheck: ServerCertificateAdvice.For(config),
                environment: options.Environment);
        }
        catch (CertificateLoadException ex)
        {
            RunLog.CannotStart(logger, ex.Message);
            return ExitCodes.Failure;
        }
        catch (Gateway.Diagnostics.TelemetrySettingsException ex)
        {
            RunLog.CannotStart(logger, ex.Message);
            return ExitCodes.Failure;
        }

        using var stopping = new CancellationTokenSource();
        await using (server.ConfigureAwait(false))
        {
            try
            {
                await server.StartAsync(stop).ConfigureAwait(false);
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
                RunLog.NoRoutes(logger, options.ConfigPath);
            }

            status.Ready();
            // cloudflared dials the address actually bound (listen_addr may say port 0).
            connector?.Start(ConnectorSetup.GatewayUrl(config.ListenAddr, server.ListenUris[0].Port), status.TunnelChanged, stopping.Token);
            var reloads = new ReloadCoordinator(options.ConfigPath, options.TunnelDomain, server.Reload, options.LogLevels, notifier, status, time, logger);
            // Pings only while the process is healthy: the gateway is up and the supervisor loop is alive.
            using var watchdog = Watchdog.Start(notifier, time, SystemdNotifier.WatchdogInterval(options.Environment),
                () => server.ListenUris.Count > 0 && connector?.IsFaulted != true);
            using var reloadRequests = options.SubscribeReload(reloads.Reload);

            await Task.Delay(Timeout.Infinite, stop).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            notifier.Notify("STOPPING=1\nSTATUS=stopping: draining in-flight requests");
            await stopping.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(server.StopAsync(), connector?.Stopped ?? Task.CompletedTask).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }
}
