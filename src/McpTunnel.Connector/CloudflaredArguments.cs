namespace McpTunnel.Connector;

/// <summary>
/// cloudflared's argv and environment. Flags are placed where urfave/cli accepts them: tunnel-level flags
/// before <c>run</c>, only <c>--token-file</c> and <c>--url</c> after it (spec cloudflared.md 1.2: a misplaced
/// flag exits 0 and prints the token). The token never appears in argv.
/// </summary>
public static class CloudflaredArguments
{
    /// <summary>Variables removed from the child's environment (every flag has an env twin; spec 0.9).</summary>
    private static readonly string[] ScrubbedPrefixes = ["TUNNEL_", "NOTIFY_SOCKET", "WATCHDOG_", "LISTEN_", "NO_AUTOUPDATE", "NO_TLS_VERIFY", "DIAL_EDGE_TIMEOUT", "STDIN_CONTROL", "CREDENTIALS_DIRECTORY"];

    public static IReadOnlyList<string> Build(CloudflaredOptions options)
    {
        var args = new List<string>
        {
            "tunnel",
            "--no-autoupdate",
            "--no-prechecks",
            "--config", options.ConfigFile,
            "--metrics", options.MetricsAddress,
            "--loglevel", "info",
            "--transport-loglevel", "warn",
            "--output", "json",
            "--grace-period", $"{(int)options.GracePeriod.TotalSeconds}s",
            "--label", options.Label,
            "--management-diagnostics=false",
        };
        if (options.Protocol is not null)
        {
            args.AddRange(["--protocol", options.Protocol]);
        }

        if (options.EdgeIpVersion is not null)
        {
            args.AddRange(["--edge-ip-version", options.EdgeIpVersion]);
        }

        args.AddRange(["run", "--token-file", options.Token.Path, "--url", options.GatewayUrl.ToString().TrimEnd('/')]);
        return args;
    }

    /// <summary>True for a variable the child must not inherit.</summary>
    public static bool IsScrubbed(string name) => ScrubbedPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal));
}
