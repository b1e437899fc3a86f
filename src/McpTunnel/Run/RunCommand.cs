using System.Runtime.InteropServices;
using McpTunnel.Commands;
using McpTunnel.Hosting;
using McpTunnel.Logging;

namespace McpTunnel.Run;

/// <summary>
/// <c>mcp-tunnel run</c>, what the service runs: loads the configuration and starts <see cref="RunService"/> with
/// this process's own logging, <c>$NOTIFY_SOCKET</c>, environment and signals (SIGTERM/SIGINT/SIGQUIT stop it,
/// SIGHUP reloads).
/// </summary>
internal static class RunCommand
{
    public static async Task<int> RunAsync(string? configPath, string? tunnelDomain, LogFormat logFormat, bool noConnector)
    {
        var path = configPath ?? ConfigFiles.DefaultPath;
        var (config, _) = ConfigFiles.LoadForAppliance(path, tunnelDomain, Console.Error);
        if (config is null)
        {
            return ExitCodes.Failure;
        }

        using var log = LogSetup.Create(logFormat, config.LogLevel);
        using var provider = LogSetup.Provider(log);
        using var notifier = new SystemdNotifier(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));
        using var signal = new ShutdownSignal();
        var service = new RunService(new RunServiceOptions
        {
            Config = config,
            ConfigPath = path,
            TunnelDomain = tunnelDomain,
            NoConnector = noConnector,
            Logs = provider,
            LogLevels = LogSetup.LevelSwitch,
            Notifier = notifier,
            SubscribeReload = reload => PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                reload();
            }),
        });
        return await service.RunAsync(signal.Token).ConfigureAwait(false);
    }
}
