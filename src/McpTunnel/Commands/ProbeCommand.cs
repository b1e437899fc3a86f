using System.Security.Cryptography.X509Certificates;
using McpTunnel.Configuration;
using McpTunnel.Credentials;
using McpTunnel.Operations;

namespace McpTunnel.Commands;

/// <summary><c>mcp-tunnel probe</c>: check a deployment from the host the way the tunnel edge reaches it.</summary>
internal static class ProbeCommand
{
    public sealed record Arguments(
        string? ConfigPath, string? Gateway, string? Route, string? Host, string? CaFile, string Path,
        bool Http2, bool Insecure, string? Call, string CallArguments, TimeSpan Timeout);

    public static async Task<int> RunAsync(Arguments args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        GatewayConfig? config = null;
        if (args.ConfigPath is not null || (args.Gateway is null && File.Exists(ConfigFiles.DefaultPath)))
        {
            (config, _) = ConfigFiles.LoadForAppliance(args.ConfigPath, null, error, checkFiles: false);
            if (config is null)
            {
                return ExitCodes.Failure;
            }
        }

        var gateway = args.Gateway ?? (config is null ? "ws://127.0.0.1:8080/" : EdgeClient.GatewayUri(config.ListenAddr));
        if (!Uri.TryCreate(gateway, UriKind.Absolute, out var gatewayUri) || gatewayUri.Scheme is not ("ws" or "http"))
        {
            error.WriteLine($"--gateway \"{gateway}\" is not a ws:// URL such as ws://127.0.0.1:8080/");
            return ExitCodes.Usage;
        }

        gatewayUri = new UriBuilder(gatewayUri) { Scheme = "ws" }.Uri;
        var host = args.Host ?? HostFor(args.Route, config);
        if (host is null)
        {
            error.WriteLine("which route? pass --host echo.<tunnel-domain>, or --route echo with --config (which supplies tunnel_domain)");
            return ExitCodes.Usage;
        }

        X509Certificate2Collection? cas = null;
        var caFile = args.CaFile ?? (config is null ? null : DataDirectory.CaBeside(config.Tls.CertFile));
        if (!args.Insecure)
        {
            if (caFile is null || !File.Exists(caFile))
            {
                error.WriteLine($"no CA certificate to verify the gateway with{(caFile is null ? "" : $" ({caFile} does not exist)")}: pass --ca /var/lib/mcp-tunnel/ca.crt, or --insecure to skip verification");
                return ExitCodes.Usage;
            }

            cas = [];
            cas.ImportFromPemFile(caFile);
        }

        var options = new ProbeOptions
        {
            Edge = new EdgeConnectOptions { Gateway = gatewayUri, TrustedCas = cas, SkipVerification = args.Insecure },
            Host = host,
            Path = args.Path,
            Http2 = args.Http2,
            RequestTimeout = args.Timeout,
            ToolCall = args.Call is null ? null : (args.Call, args.CallArguments),
        };
        output.WriteLine($"probe {host}{args.Path} via {gatewayUri} ({(args.Http2 ? "HTTP/2" : "HTTP/1.1")} inside TLS{(args.Insecure ? ", certificate NOT verified" : $", CA {caFile}")})");
        var report = await Probe.RunAsync(options, cancellationToken).ConfigureAwait(false);
        output.Write(report.ToString());
        output.WriteLine(report.Ok ? "probe OK" : "probe FAILED");
        return report.Ok ? ExitCodes.Ok : ExitCodes.Failure;
    }

    private static string? HostFor(string? route, GatewayConfig? config)
    {
        if (config is null)
        {
            return route is not null && route.Contains('.', StringComparison.Ordinal) ? route : null;
        }

        route ??= config.Routes.Keys.Order(StringComparer.Ordinal).FirstOrDefault();
        if (route is null)
        {
            return null;
        }

        return route.Contains('.', StringComparison.Ordinal) || config.TunnelDomain.Length == 0 ? route : $"{route}.{config.TunnelDomain}";
    }
}
