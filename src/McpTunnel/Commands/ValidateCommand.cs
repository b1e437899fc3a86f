using McpTunnel.Gateway.Tls;
using McpTunnel.Operations;

namespace McpTunnel.Commands;

/// <summary><c>mcp-tunnel config validate</c>: every problem at once, with line and column; exit 0 or 1.</summary>
internal static class ValidateCommand
{
    public static async Task<int> RunAsync(string? configPath, string? tunnelDomain, TextWriter output, TextWriter error,
        Func<string, CancellationToken, Task<System.Net.IPAddress[]>>? resolve = null, CancellationToken cancellationToken = default)
    {
        var (config, domainFile) = ConfigFiles.LoadForAppliance(configPath, tunnelDomain, error);
        if (config is null)
        {
            return ExitCodes.Failure;
        }

        try
        {
            var certificate = ServerCertificate.Load(config.Tls.CertFile, config.Tls.KeyFile);
            output.WriteLine($"tls: {config.Tls.CertFile} and {config.Tls.KeyFile} load as a pair (expires {certificate.NotAfter:yyyy-MM-dd})");
        }
        catch (CertificateLoadException ex)
        {
            error.WriteLine($"{config.SourcePath}: tls: {ex.Message}");
            error.WriteLine("invalid configuration: 1 error");
            return ExitCodes.Failure;
        }

        output.WriteLine($"listen_addr: {config.ListenAddr}{(config.ListenAddr.IsLoopbackOnly ? "" : " (reachable from the network)")}");
        var stored = domainFile is null ? "" : $" (from {domainFile})";
        output.WriteLine($"tunnel_domain: {(config.TunnelDomain.Length == 0 ? "(none: route keys are full host names)" : config.TunnelDomain + stored)}");
        foreach (var (name, upstream) in config.Routes.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"route: {name} -> {upstream}");
        }

        output.WriteLine($"upstream.allowed_ips: {(config.Upstream.DisableIpValidation ? "validation disabled" : string.Join(", ", config.Upstream.AllowedIps))}");
        var warnings = await RoutePolicyWarnings.CheckAsync(config, resolve, cancellationToken).ConfigureAwait(false);
        foreach (var warning in warnings)
        {
            error.WriteLine(warning);
        }

        output.WriteLine($"config OK: {config.SourcePath}{(warnings.Count == 0 ? "" : $" ({warnings.Count} route warning{(warnings.Count == 1 ? "" : "s")} above)")}");
        return ExitCodes.Ok;
    }
}
