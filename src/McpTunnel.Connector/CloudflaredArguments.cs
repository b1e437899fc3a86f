namespace McpTunnel.Connector;

/// <summary>
/// cloudflared's argv and environment. Flags are placed where urfave/cli accepts them: tunnel-level flags
/// before <c>run</c>, only <c>--token-file</c> and <c>--url</c> after it (spec cloudflared.md 1.2: a misplaced
/// flag exits 0 and prints the token). The token never appears in argv. Flags a release does not know are left
/// out for it when they are optional (<see cref="CloudflaredVersion"/>).
/// </summary>
public static class CloudflaredArguments
{
    /// <summary>Exact names passed on to the child (spec 0.9: every cloudflared flag has an environment twin, so nothing else is).</summary>
    private static readonly HashSet<string> AllowedNames = new(StringComparer.Ordinal)
    {
        "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
        // Go's net/http.ProxyFromEnvironment (origin requests) reads both spellings.
        "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY",
        // Go's crypto/x509 on Linux.
        "SSL_CERT_FILE", "SSL_CERT_DIR",
    };

    /// <param name="options">What to run: binary, gateway URL, metrics address, token, protocol.</param>
    /// <param name="version">The child's release; null when it could not be read (the full command line is used).</param>
    public static IReadOnlyList<string> Build(CloudflaredOptions options, CloudflaredVersion? version = null)
    {
        var args = new List<string> { "tunnel", "--no-autoupdate" };
        if (version is null || version >= CloudflaredVersion.NoPrechecks)
        {
            args.Add("--no-prechecks");
        }

        args.AddRange([
            "--config", options.ConfigFile,
            "--metrics", options.MetricsAddress,
            "--loglevel", "info",
            "--transport-loglevel", "warn",
        ]);
        if (version is null || version >= CloudflaredVersion.JsonOutput)
        {
            args.AddRange(["--output", "json"]);
        }

        args.AddRange([
            "--grace-period", $"{(int)options.GracePeriod.TotalSeconds}s",
            "--label", options.Label,
            "--management-diagnostics=false",
        ]);
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

    /// <summary>True for a variable the child may inherit: the allow-list and the locale's <c>LC_*</c>.</summary>
    public static bool IsPassedOn(string name) => AllowedNames.Contains(name) || name.StartsWith("LC_", StringComparison.Ordinal);

    /// <summary>For CliWrap's WithEnvironmentVariables: every variable of ours that is not passed on, set to null (removed).</summary>
    public static IReadOnlyDictionary<string, string?> EnvironmentRemovals() =>
        Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(n => !IsPassedOn(n)).ToDictionary(n => n, _ => (string?)null, StringComparer.Ordinal);

    /// <summary>Reduces <paramref name="environment"/> (a child's start environment) to the allow-list.</summary>
    public static void Restrict(IDictionary<string, string?> environment)
    {
        foreach (var name in environment.Keys.Where(n => !IsPassedOn(n)).ToList())
        {
            environment.Remove(name);
        }
    }
}
