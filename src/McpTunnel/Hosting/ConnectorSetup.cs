using McpTunnel.Configuration;
using McpTunnel.Connector;
using McpTunnel.Credentials;

namespace McpTunnel.Hosting;

/// <summary>
/// How <c>run</c> sets cloudflared up from the configuration; <c>doctor</c> uses the same, so the command line it
/// checks is the one <c>run</c> starts.
/// </summary>
internal static class ConnectorSetup
{
    /// <summary>Where the connector's own files go: <c>$RUNTIME_DIRECTORY</c> under systemd, else the data directory.</summary>
    public static string RuntimeDirectory(GatewayConfig config, Func<string, string?> environment) =>
        environment("RUNTIME_DIRECTORY")?.Split(':')[0] is { Length: > 0 } runtime ? runtime : config.Appliance.DataDir;

    /// <summary>
    /// The systemd credential or the data directory's file; else <c>TUNNEL_TOKEN</c>, handed to cloudflared as a
    /// copy in the runtime directory that exists only while a cloudflared runs (its environment never has it).
    /// </summary>
    public static TokenSource? Token(GatewayConfig config, Func<string, string?> environment)
    {
        if (TokenSource.Find(config.Appliance.DataDir, environment) is { } found)
        {
            return found;
        }

        return environment("TUNNEL_TOKEN") is { Length: > 0 } value
            ? new TokenSource(Path.Combine(RuntimeDirectory(config, environment), "cloudflared-token"), "TUNNEL_TOKEN") { Value = value.Trim() }
            : null;
    }

    public static CloudflaredOptions Options(GatewayConfig config, TokenSource token, Uri gateway, Func<string, string?> environment)
    {
        var settings = config.Appliance.Cloudflared;
        return new CloudflaredOptions
        {
            Binary = settings.Binary,
            GatewayUrl = gateway,
            MetricsAddress = settings.MetricsAddr.ToString(),
            // Our own (empty) cloudflared config, so no config.yml on the host can replace --url.
            ConfigFile = Path.Combine(RuntimeDirectory(config, environment), "cloudflared.yml"),
            Token = token,
            GracePeriod = StopBudget.EffectiveGracePeriod(config),
            // The margin the packaged unit's stop budget is computed with (StopBudget), stated once.
            KillMargin = StopBudget.CloudflaredKillMargin,
            Protocol = settings.Protocol,
            EdgeIpVersion = settings.EdgeIpVersion,
            WriteSecretFile = AtomicFile.Write,
        };
    }

    /// <summary>
    /// The gateway's address as cloudflared dials it: <c>listen_addr</c>'s host (every-interface listeners are
    /// dialled on 127.0.0.1) with the port actually bound (<c>listen_addr</c> may say port 0).
    /// </summary>
    public static Uri GatewayUrl(ListenAddress listen, int boundPort)
    {
        var dial = listen.DialAuthority;
        return new Uri($"http://{dial[..dial.LastIndexOf(':')]}:{boundPort}");
    }
}
