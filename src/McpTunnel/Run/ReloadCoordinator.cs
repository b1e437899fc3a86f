using McpTunnel.Commands;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Tls;
using McpTunnel.Hosting;
using McpTunnel.Logging;
using Microsoft.Extensions.Logging;
using Serilog.Core;

namespace McpTunnel.Run;

/// <summary>
/// What SIGHUP (<c>systemctl reload</c>) does: <c>RELOADING=1</c> with the monotonic time systemd asks for, the
/// configuration file read again as at start, and then either the new configuration applied (the gateway's
/// reload, the log level) or every problem logged and the running configuration kept; <c>READY=1</c> and the
/// status line either way (<see cref="ServiceStatus.Reloaded"/>).
/// </summary>
/// <param name="path">The configuration file <c>run</c> started with.</param>
/// <param name="tunnelDomain">The <c>--tunnel-domain</c> flag, which still overrides the file.</param>
/// <param name="apply">Applies a valid configuration to the gateway; throws <see cref="CertificateLoadException"/> when its certificate cannot be used.</param>
/// <param name="levels">The switch every log line passes; <c>log_level</c> changes at once, raised or lowered.</param>
/// <param name="notifier">systemd's notify socket: <c>RELOADING=1</c>, then <c>READY=1</c> with the status.</param>
/// <param name="status">The STATUS= line, told whether the reload was accepted.</param>
/// <param name="time">The clock <c>MONOTONIC_USEC</c> is read from.</param>
/// <param name="logger">Where a rejected reload's problems are logged.</param>
internal sealed class ReloadCoordinator(string path, string? tunnelDomain, Action<GatewayConfig> apply, LoggingLevelSwitch levels,
    ISystemdNotifier notifier, ServiceStatus status, TimeProvider time, ILogger logger)
{
    public void Reload()
    {
        // sd_notify(3): RELOADING=1 carries CLOCK_MONOTONIC in microseconds, which the time provider's timestamp is.
        notifier.Notify($"RELOADING=1\nMONOTONIC_USEC={time.GetTimestamp() / (time.TimestampFrequency / 1_000_000)}");
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
            apply(result.Config!);
            levels.MinimumLevel = LogSetup.Level(result.Config!.LogLevel);
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
