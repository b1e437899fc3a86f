using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary>
/// One read of a configuration's text: the YAML document (size, nesting and syntax checked first), then each section
/// with its own reader, then the checks that span sections. Every problem is collected in <see cref="Problems"/>.
/// </summary>
internal sealed class ConfigReader(string source, string? fileBaseDirectory, bool checkFiles)
{
    private readonly ReadContext _context = new(source, fileBaseDirectory, checkFiles);

    public List<ConfigProblem> Problems => _context.Problems;

    /// <summary>The tunnel domain read (flag, stored file or field), also when other fields have errors; null when unread.</summary>
    public string? TunnelDomain { get; private set; }

    /// <summary><c>appliance.data_dir</c> as read, also when other fields have errors.</summary>
    public string? DataDir { get; private set; }

    /// <summary>The configuration; null when it has errors.</summary>
    /// <param name="text">The YAML of the configuration file.</param>
    /// <param name="tunnelDomainOverride">The <c>-tunnel-domain</c> flag, or the stored domain.</param>
    /// <param name="tunnelDomainFile">The file <paramref name="tunnelDomainOverride"/> was read from; null for the flag.</param>
    public GatewayConfig? Read(string text, string? tunnelDomainOverride, string? tunnelDomainFile)
    {
        if (ReadRoot(text) is not { } root)
        {
            return null;
        }

        var top = _context.Section(root, "", TopLevelReader.Fields, strict: false);
        var listen = TopLevelReader.ReadListenAddress(top);
        var logLevel = TopLevelReader.ReadLogLevel(top);
        var shutdown = TopLevelReader.ReadShutdownTimeout(top);
        var tunnelDomain = TopLevelReader.ReadTunnelDomain(top, tunnelDomainOverride, tunnelDomainFile);
        TunnelDomain = tunnelDomain;
        var tls = TopLevelReader.ReadTls(top);
        var routeNodes = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var routes = RoutesReader.Read(top, tunnelDomain, routeNodes);
        var upstream = UpstreamReader.Read(top, routes, routeNodes);
        var appliance = ApplianceReader.Read(top);
        DataDir = appliance?.DataDir;

        if (listen is null || tls is null || routes is null || upstream is null || appliance is null)
        {
            return null;
        }

        var config = new GatewayConfig
        {
            ListenAddr = listen,
            LogLevel = logLevel,
            ShutdownTimeout = shutdown,
            TunnelDomain = tunnelDomain,
            Tls = tls,
            Routes = routes,
            Upstream = upstream,
            Appliance = appliance,
            SourcePath = source,
        };
        CheckStopBudget(config, top);
        return config;
    }

    /// <summary>The document's root mapping; null, with the problem, when the text is no usable YAML document.</summary>
    private YamlMappingNode? ReadRoot(string text)
    {
        if (text.Length > ConfigLoader.MaxFileBytes)
        {
            _context.Error(null, "", $"the configuration is {text.Length} characters; the limit is {ConfigLoader.MaxFileBytes / 1024} KiB (is this the right file?)");
            return null;
        }

        var stream = new YamlStream();
        try
        {
            // Depth first, with the event parser (a loop, no recursion); only a shallow document reaches the
            // representation model, which recurses per level.
            if (TooDeep(text) is { } deep)
            {
                Problems.Add(new ConfigProblem(source, deep.Line, deep.Column, "",
                    $"the YAML nests mappings or sequences more than {ConfigLoader.MaxNestingDepth} levels deep here; a configuration needs at most 4 (check for unbalanced [ or {{)"));
                return null;
            }

            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            var message = (ex.InnerException?.Message ?? ex.Message).Trim();
            Problems.Add(new ConfigProblem(source, ex.Start.Line, ex.Start.Column, "", $"YAML syntax error: {message}"));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // YamlDotNet throws these for some malformed documents (found by FuzzTests): still a syntax error.
            Problems.Add(new ConfigProblem(source, 0, 0, "", $"YAML syntax error: {ex.Message} (check indentation, quotes and brackets)"));
            return null;
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            _context.Error(null, "", "the configuration is empty; it needs at least listen_addr, tls and routes");
            return null;
        }

        if (stream.Documents.Count > 1)
        {
            _context.Warn(stream.Documents[1].RootNode, "", "only the first YAML document is read; the others are ignored");
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            _context.Error(stream.Documents[0].RootNode, "", "the configuration must be a mapping of fields (listen_addr: ..., routes: ...)");
            return null;
        }

        return root;
    }

    /// <summary>Warns when a stop with these settings can outlast the packaged unit's TimeoutStopSec (SIGKILL mid-drain).</summary>
    private static void CheckStopBudget(GatewayConfig config, YamlSection top)
    {
        var worst = StopBudget.WorstCase(config);
        if (worst <= StopBudget.PackagedTimeoutStopSec)
        {
            return;
        }

        // In the unit file's own words (TimeoutStopSec=60s).
        var budget = $"{StopBudget.PackagedTimeoutStopSec.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";
        var connector = config.Appliance.Cloudflared.Enabled
            ? $", or cloudflared's grace period {GoDuration.Format(StopBudget.EffectiveGracePeriod(config))} plus {GoDuration.Format(StopBudget.CloudflaredKillMargin)}"
            : "";
        top.Warn("shutdown_timeout",
            $"a stop can take up to {GoDuration.Format(worst)} (the drain of {GoDuration.Format(config.ShutdownTimeout)}{connector}, then {GoDuration.Format(StopBudget.CloseAllowance)} to close), " +
            $"longer than the packaged service unit allows (TimeoutStopSec={budget}), so systemd would kill mcp-tunnel in the middle of the drain; " +
            $"keep shutdown_timeout at most {GoDuration.Format(StopBudget.PackagedTimeoutStopSec - StopBudget.CloseAllowance)} " +
            $"and appliance.cloudflared.grace_period at most {GoDuration.Format(StopBudget.PackagedTimeoutStopSec - StopBudget.CloseAllowance - StopBudget.CloudflaredKillMargin)}, " +
            "or give the unit more time in a drop-in (systemctl edit mcp-tunnel: [Service] TimeoutStopSec=...)");
    }

    /// <summary>Where the nesting first exceeds <see cref="ConfigLoader.MaxNestingDepth"/>, or null.</summary>
    private static Mark? TooDeep(string text)
    {
        var parser = new Parser(new StringReader(text));
        var depth = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > ConfigLoader.MaxNestingDepth)
                    {
                        return parser.Current.Start;
                    }

                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    break;
            }
        }

        return null;
    }
}
