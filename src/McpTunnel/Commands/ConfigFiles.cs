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

    public static GatewayConfig? Load(string? path, string? tunnelDomain, TextWriter error, bool checkFiles = true) =>
        Report(ConfigLoader.LoadFile(path ?? DefaultPath, tunnelDomain, checkFiles), path ?? DefaultPath, error);

    /// <summary>
    /// The appliance's load (run and its reload, config validate, probe, doctor): as <see cref="Load"/>, but a file
    /// with no <c>tunnel_domain</c> (and no flag) takes the domain from <c>tunnel-domain</c> in its data directory,
    /// which setup init and cert init write, so the packaged config can ship without a domain. <c>gateway</c>, the
    /// proxy's role, does not do this. The file is parsed once; a second time, with the stored domain, only when
    /// that applies, so the problems reported are those of the configuration actually used.
    /// </summary>
    /// <returns>The result, and the stored domain's file when it was used.</returns>
    public static (ConfigLoadResult Result, string? DomainFile) LoadResultForAppliance(string path, string? tunnelDomain, bool checkFiles = true)
    {
        var result = ConfigLoader.LoadFile(path, tunnelDomain, checkFiles);
        // Also when the file has other errors: its problems are then reported as they are with the stored
        // domain, not with a false "bare subdomain but tunnel_domain is empty" beside them.
        if (tunnelDomain is not null || result.TunnelDomain is not { Length: 0 })
        {
            return (result, null);
        }

        var stored = Path.Combine(result.DataDir ?? McpTunnel.Credentials.DataDirectory.DefaultPath, McpTunnel.Credentials.DataDirectory.TunnelDomain);
        try
        {
            return File.Exists(stored) && File.ReadAllText(stored).Trim() is { Length: > 0 } domain
                ? (ConfigLoader.LoadFile(path, domain, checkFiles, tunnelDomainFile: stored), stored)
                : (result, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var warning = new ConfigProblem(stored, 0, 0, "tunnel_domain", $"cannot read {stored} for the tunnel domain: {ex.Message}", IsWarning: true);
            return (result with { Problems = [.. result.Problems, warning] }, null);
        }
    }

    /// <summary><see cref="LoadResultForAppliance"/>, printing every problem as <see cref="Load"/> does.</summary>
    public static (GatewayConfig? Config, string? DomainFile) LoadForAppliance(string? path, string? tunnelDomain, TextWriter error, bool checkFiles = true)
    {
        var (result, domainFile) = LoadResultForAppliance(path ?? DefaultPath, tunnelDomain, checkFiles);
        return (Report(result, path ?? DefaultPath, error), domainFile);
    }

    private static GatewayConfig? Report(ConfigLoadResult result, string path, TextWriter error)
    {
        foreach (var problem in result.Problems)
        {
            error.WriteLine(problem);
        }

        if (!result.Succeeded && File.Exists(path))
        {
            var count = result.Errors.Count();
            error.WriteLine($"invalid configuration: {count} error{(count == 1 ? "" : "s")} in {path}");
        }

        return result.Config;
    }
}
