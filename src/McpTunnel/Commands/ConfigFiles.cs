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
}
