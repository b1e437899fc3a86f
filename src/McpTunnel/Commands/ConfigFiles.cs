using McpTunnel.Configuration;

namespace McpTunnel.Commands;

/// <summary>Finds and loads the configuration, printing every problem to stderr.</summary>
internal static class ConfigFiles
{
    /// <summary>The appliance's own path if it exists, else the proxy container's path (drop-in use).</summary>
    public static string DefaultPath =>
        File.Exists(ConfigLoader.ApplianceDefaultPath) || !File.Exists(ConfigLoader.ProxyDefaultPath)
            ? ConfigLoader.ApplianceDefaultPath
            : ConfigLoader.ProxyDefaultPath;

    public static GatewayConfig? Load(string? path, string? tunnelDomain, TextWriter error, bool checkFiles = true)
    {
        var result = ConfigLoader.LoadFile(path ?? DefaultPath, tunnelDomain, checkFiles);
        foreach (var problem in result.Problems)
        {
            error.WriteLine(problem);
        }

        if (!result.Succeeded)
        {
            var count = result.Errors.Count();
            error.WriteLine($"invalid configuration: {count} error{(count == 1 ? "" : "s")} in {path ?? DefaultPath}");
        }

        return result.Config;
    }

    /// <summary>
    /// The tunnel domain the appliance's commands (run, config validate, probe, doctor) use: the flag, else the
    /// file's <c>tunnel_domain</c>, else <c>tunnel-domain</c> in the data directory, which setup init and cert init
    /// write. The packaged config can then ship without a domain and nobody copies it by hand. <c>gateway</c>, the
    /// proxy's role, does not do this. Null means "whatever the file says".
    /// </summary>
    public static string? EffectiveTunnelDomain(string? path, string? tunnelDomain, TextWriter error)
    {
        if (tunnelDomain is null && ConfigLoader.LoadFile(path ?? DefaultPath, null, checkFiles: false) is { Succeeded: true, Config: { TunnelDomain.Length: 0 } bare })
        {
            var stored = Path.Combine(bare.Appliance.DataDir, McpTunnel.Credentials.DataDirectory.TunnelDomain);
            try
            {
                if (File.Exists(stored) && File.ReadAllText(stored).Trim() is { Length: > 0 } domain)
                {
                    return domain;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"warning: cannot read {stored} for the tunnel domain: {ex.Message}");
            }
        }

        return tunnelDomain;
    }

    /// <summary><see cref="Load"/> with <see cref="EffectiveTunnelDomain"/>; also returns the domain used.</summary>
    public static (GatewayConfig? Config, string? TunnelDomain) LoadForAppliance(string? path, string? tunnelDomain, TextWriter error)
    {
        var domain = EffectiveTunnelDomain(path, tunnelDomain, error);
        return (Load(path, domain, error), domain);
    }
}
