using McpTunnel.Configuration;
using McpTunnel.Connector;
using McpTunnel.Credentials;
using McpTunnel.Hosting;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Run;

/// <summary>
/// The supervised cloudflared for the life of <c>run</c>: checked and prepared before the gateway starts
/// (<see cref="Prepare"/>), started once the gateway's bound address is known, restarted make-before-break when
/// the token file changes (<see cref="TokenWatcher"/>), and never left behind, even when this process crashes.
/// </summary>
internal sealed class ConnectorLifetime : IDisposable
{
    private readonly TokenSource _watched;
    private readonly TimeProvider _time;
    private Task _running = Task.CompletedTask;
    private TokenWatcher? _tokenWatch;

    private ConnectorLifetime(CloudflaredSupervisor supervisor, TokenSource watched, TimeProvider time)
    {
        Supervisor = supervisor;
        _watched = watched;
        _time = time;
    }

    public CloudflaredSupervisor Supervisor { get; }

    /// <summary>True when the supervisor's loop died (a bug, not a cloudflared failure): the watchdog stops pinging.</summary>
    public bool IsFaulted => _running.IsFaulted;

    /// <summary>
    /// The supervisor for <paramref name="config"/>, with its (empty) cloudflared config file written; or null,
    /// after logging what is missing (the binary, the token) and how to fix it.
    /// </summary>
    public static ConnectorLifetime? Prepare(GatewayConfig config, Func<string, string?> environment, TimeProvider time, ILogger logger, ILogger connectorLogger)
    {
        var settings = config.Appliance.Cloudflared;
        if (!File.Exists(settings.Binary))
        {
            RunLog.NoCloudflared(logger, settings.Binary);
            return null;
        }

        var token = ConnectorSetup.Token(config, environment);
        if (token is null)
        {
            RunLog.NoToken(logger, Path.Combine(config.Appliance.DataDir, DataDirectory.TunnelToken));
            return null;
        }

        // The gateway's bound address replaces this once it listens.
        var options = ConnectorSetup.Options(config, token, new Uri($"http://{config.ListenAddr.DialAuthority}"), environment);
        AtomicFile.Write(options.ConfigFile, "{}\n");
        return new ConnectorLifetime(new CloudflaredSupervisor(options, connectorLogger, time), token.Watched, time);
    }

    /// <summary>Starts supervising: cloudflared dials <paramref name="gateway"/>, its status goes to <paramref name="statusChanged"/>, until <paramref name="stopping"/>.</summary>
    public void Start(Uri gateway, Action<string> statusChanged, CancellationToken stopping)
    {
        Supervisor.SetGatewayUrl(gateway);
        Supervisor.StatusChanged += statusChanged;
        _running = Supervisor.RunAsync(stopping);
        _tokenWatch = new TokenWatcher(_watched.Path, _time, () => Supervisor.RestartForNewToken(_watched));
        // Our own crash must not leave cloudflared behind (two of them during a token rotation).
        AppDomain.CurrentDomain.UnhandledException += KillChildren;
    }

    /// <summary>Completes when the supervisor has stopped cloudflared (after the token passed to <see cref="Start"/> is cancelled).</summary>
    public Task Stopped => _running;

    private void KillChildren(object? sender, UnhandledExceptionEventArgs e)
    {
        foreach (var pid in Supervisor.ProcessIds)
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
    }

    public void Dispose()
    {
        _tokenWatch?.Dispose();
        AppDomain.CurrentDomain.UnhandledException -= KillChildren;
        Supervisor.Dispose();
    }
}
