using McpTunnel.Connector;
using McpTunnel.Hosting;
using McpTunnel.Operations.Doctor;

namespace McpTunnel.Commands;

/// <summary>
/// <c>mcp-tunnel doctor</c>: loads the configuration as the service does, runs <see cref="DoctorChecks"/> with
/// <c>run</c>'s own cloudflared setup, prints the result and exits 1 when a check failed.
/// </summary>
internal static class DoctorCommand
{
    public sealed record Arguments(string? ConfigPath, bool Json, string ApiTarget, string EdgeTarget, string McpPath, TimeSpan Timeout, bool Offline = false);

    public static async Task<int> RunAsync(Arguments args, TextWriter output, CancellationToken cancellationToken)
    {
        var path = args.ConfigPath ?? ConfigFiles.DefaultPath;
        var (loaded, _) = ConfigFiles.LoadResultForAppliance(path, null);
        Func<string, string?> environment = Environment.GetEnvironmentVariable;
        var checks = await DoctorChecks.RunAsync(new DoctorOptions
        {
            ConfigPath = path,
            Config = loaded,
            Cloudflared = config =>
            {
                var token = ConnectorSetup.Token(config, environment)
                    ?? new TokenSource(Path.Combine(ConnectorSetup.RuntimeDirectory(config, environment), "cloudflared-token"), "none");
                return ConnectorSetup.Options(config, token, new Uri($"http://{config.ListenAddr.DialAuthority}"), environment);
            },
            ApiTarget = args.ApiTarget,
            EdgeTarget = args.EdgeTarget,
            McpPath = args.McpPath,
            Timeout = args.Timeout,
            Offline = args.Offline,
            Environment = environment,
        }, cancellationToken).ConfigureAwait(false);
        DoctorReport.Write(checks, args.Json, output);
        return DoctorReport.AnyFailed(checks) ? ExitCodes.Failure : ExitCodes.Ok;
    }
}
