using McpTunnel.Configuration.Reading;

namespace McpTunnel.Configuration;

/// <summary>
/// Reads the proxy's YAML format (spec 2.2) with the YAML representation model, so every node keeps its
/// line and column and no reflection is needed under Native AOT. Validation collects every problem
/// instead of stopping at the first one. Unknown top-level keys are warnings, as Go's YAML decoder
/// ignores them; unknown keys under <c>appliance:</c> are errors, because that section is ours.
/// Each section has its reader in <c>Reading/</c>; <see cref="ConfigReader"/> runs them in order.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Where the original proxy looks when no <c>-config</c> is given (spec appendix B).</summary>
    public const string ProxyDefaultPath = "/etc/mcp-gateway/config.yaml";

    /// <summary>Where the packaged appliance keeps its configuration.</summary>
    public const string ApplianceDefaultPath = "/etc/mcp-tunnel/config.yaml";

    /// <summary>
    /// Largest configuration accepted, in bytes. Real files are a few kilobytes; the limit keeps a runaway or
    /// hostile file (read again on every SIGHUP) from costing the daemon more than a moment.
    /// </summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>
    /// Deepest nesting of mappings and sequences accepted. The deepest real field is three levels down
    /// (appliance.cloudflared.protocol); YamlDotNet's representation model recurses once per level, so a file of
    /// 100,000 nested brackets overflowed the stack and killed the process (or the daemon, on SIGHUP).
    /// </summary>
    public const int MaxNestingDepth = 32;

    /// <summary>Reads and parses a configuration file (see <see cref="Parse"/>), relative paths resolved against its directory.</summary>
    public static ConfigLoadResult LoadFile(string path, string? tunnelDomainOverride = null, bool checkFiles = true, string? tunnelDomainFile = null)
    {
        string text;
        if (Directory.Exists(path))
        {
            return new ConfigLoadResult(null, [new ConfigProblem(path, 0, 0, "", "is a directory; pass --config with the configuration file itself")]);
        }

        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
            {
                return new ConfigLoadResult(null, [new ConfigProblem(path, 0, 0, "", $"the configuration is {length} bytes; the limit is {MaxFileBytes / 1024} KiB (is this the right file?)")]);
            }

            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return new ConfigLoadResult(null, [new ConfigProblem(path, 0, 0, "",
                $"no such configuration file; pass --config FILE (without it {ApplianceDefaultPath}, which the package installs, is read, else the proxy's {ProxyDefaultPath})")]);
        }
        catch (UnauthorizedAccessException)
        {
            return new ConfigLoadResult(null, [new ConfigProblem(path, 0, 0, "",
                "permission denied reading the configuration file; run as root or as a member of its group (the package's file is root:mcp-tunnel 0640)")]);
        }
        catch (IOException ex)
        {
            return new ConfigLoadResult(null, [new ConfigProblem(path, 0, 0, "", $"cannot read the configuration file: {ex.Message}")]);
        }

        var baseDirectory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        return Parse(text, path, tunnelDomainOverride, baseDirectory, checkFiles, tunnelDomainFile);
    }

    /// <summary>
    /// Parses configuration text. When <paramref name="fileBaseDirectory"/> is given, relative file paths
    /// are resolved against it (the config file's directory); with <paramref name="checkFiles"/> the files
    /// named must also exist and be readable. <paramref name="tunnelDomainOverride"/> replaces <c>tunnel_domain</c>: the
    /// <c>-tunnel-domain</c> flag, or, with <paramref name="tunnelDomainFile"/> naming the file it came from, the
    /// domain stored in the data directory; a bad value is reported under that name.
    /// </summary>
    public static ConfigLoadResult Parse(string text, string source, string? tunnelDomainOverride = null, string? fileBaseDirectory = null, bool checkFiles = false, string? tunnelDomainFile = null)
    {
        var reader = new ConfigReader(source, fileBaseDirectory, checkFiles);
        var config = reader.Read(text, tunnelDomainOverride, tunnelDomainFile);
        var problems = reader.Problems;
        return new ConfigLoadResult(problems.Any(p => !p.IsWarning) ? null : config, problems)
        {
            TunnelDomain = reader.TunnelDomain,
            DataDir = reader.DataDir,
        };
    }
}
