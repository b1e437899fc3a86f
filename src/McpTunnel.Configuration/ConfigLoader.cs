using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration;

/// <summary>
/// Reads the proxy's YAML format (spec 2.2) with the YAML representation model, so every node keeps its
/// line and column and no reflection is needed under Native AOT. Validation collects every problem
/// instead of stopping at the first one. Unknown top-level keys are warnings, as Go's YAML decoder
/// ignores them; unknown keys under <c>appliance:</c> are errors, because that section is ours.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Where the original proxy looks when no <c>-config</c> is given (spec appendix B).</summary>
    public const string ProxyDefaultPath = "/etc/mcp-gateway/config.yaml";

    /// <summary>Where the packaged appliance keeps its configuration.</summary>
    public const string ApplianceDefaultPath = "/etc/mcp-tunnel/config.yaml";

    private static readonly string[] TopLevelKeys =
        ["listen_addr", "log_level", "shutdown_timeout", "tunnel_domain", "tls", "routes", "upstream", "appliance"];

    private static readonly string[] LogLevels = ["debug", "info", "warn", "error"];

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

    /// <summary>The largest connection or session limit accepted: the kernel's default ceiling for open files (fs.nr_open).</summary>
    private const int MaxCount = 1 << 20;

    public static ConfigLoadResult LoadFile(string path, string? tunnelDomainOverride = null, bool checkFiles = true)
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
        return Parse(text, path, tunnelDomainOverride, baseDirectory, checkFiles);
    }

    /// <summary>
    /// Parses configuration text. When <paramref name="fileBaseDirectory"/> is given, relative file paths
    /// are resolved against it (the config file's directory); with <paramref name="checkFiles"/> the files
    /// named must also exist and be readable.
    /// </summary>
    public static ConfigLoadResult Parse(string text, string source, string? tunnelDomainOverride = null, string? fileBaseDirectory = null, bool checkFiles = false)
    {
        var reader = new Reader(source, fileBaseDirectory, checkFiles);
        var config = reader.Read(text, tunnelDomainOverride);
        var problems = reader.Problems;
        return new ConfigLoadResult(problems.Any(p => !p.IsWarning) ? null : config, problems)
        {
            TunnelDomain = reader.TunnelDomain,
            DataDir = reader.DataDir,
        };
    }

    private sealed class Reader(string source, string? fileBaseDirectory, bool checkFiles)
    {
        public List<ConfigProblem> Problems { get; } = [];

        /// <summary>The tunnel domain read (flag or file), also when other fields have errors; null when unread.</summary>
        public string? TunnelDomain { get; private set; }

        /// <summary><c>appliance.data_dir</c> as read, also when other fields have errors.</summary>
        public string? DataDir { get; private set; }

        private readonly Dictionary<string, YamlNode> _routeNodes = new(StringComparer.Ordinal);

        private void Error(YamlNode? node, string field, string message) =>
            Problems.Add(new ConfigProblem(source, node?.Start.Line ?? 0, node?.Start.Column ?? 0, field, message));

        private void Warn(YamlNode? node, string field, string message) =>
            Problems.Add(new ConfigProblem(source, node?.Start.Line ?? 0, node?.Start.Column ?? 0, field, message, IsWarning: true));

        public GatewayConfig? Read(string text, string? tunnelDomainOverride)
        {
            if (text.Length > MaxFileBytes)
            {
                Error(null, "", $"the configuration is {text.Length} characters; the limit is {MaxFileBytes / 1024} KiB (is this the right file?)");
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
                        $"the YAML nests mappings or sequences more than {MaxNestingDepth} levels deep here; a configuration needs at most 4 (check for unbalanced [ or {{)"));
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
                Error(null, "", "the configuration is empty; it needs at least listen_addr, tls and routes");
                return null;
            }

            if (stream.Documents.Count > 1)
            {
                Warn(stream.Documents[1].RootNode, "", "only the first YAML document is read; the others are ignored");
            }

            if (stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                Error(stream.Documents[0].RootNode, "", "the configuration must be a mapping of fields (listen_addr: ..., routes: ...)");
                return null;
            }

            var fields = Fields(root, "", TopLevelKeys, strict: false);

            var listen = ReadListenAddress(fields);
            var logLevel = ReadLogLevel(fields);
            var shutdown = ReadDuration(fields, "shutdown_timeout", "shutdown_timeout", TimeSpan.FromSeconds(30), allowZero: true);
            var tunnelDomain = ReadTunnelDomain(fields, tunnelDomainOverride);
            TunnelDomain = tunnelDomain;
            var tls = ReadTls(fields);
            var routes = ReadRoutes(fields, tunnelDomain);
            var upstream = ReadUpstream(fields, routes);
            var appliance = ReadAppliance(fields);
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
            CheckStopBudget(config, fields);
            return config;
        }

        /// <summary>Warns when a stop with these settings can outlast the packaged unit's TimeoutStopSec (SIGKILL mid-drain).</summary>
        private void CheckStopBudget(GatewayConfig config, Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
        {
            var worst = StopBudget.WorstCase(config);
            if (worst <= StopBudget.PackagedTimeoutStopSec)
            {
                return;
            }

            // In the unit file's own words (TimeoutStopSec=60s).
            var budget = $"{StopBudget.PackagedTimeoutStopSec.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}s";
            var connector = config.Appliance.Cloudflared.Enabled
                ? $", or cloudflared's grace period {GoDuration.Format(StopBudget.EffectiveGracePeriod(config))} plus {GoDuration.Format(StopBudget.CloudflaredKillMargin)}"
                : "";
            var node = fields.TryGetValue("shutdown_timeout", out var field) ? field.Value : null;
            Warn(node, "shutdown_timeout",
                $"a stop can take up to {GoDuration.Format(worst)} (the drain of {GoDuration.Format(config.ShutdownTimeout)}{connector}, then {GoDuration.Format(StopBudget.CloseAllowance)} to close), " +
                $"longer than the packaged service unit allows (TimeoutStopSec={budget}), so systemd would kill mcp-tunnel in the middle of the drain; " +
                $"keep shutdown_timeout at most {GoDuration.Format(StopBudget.PackagedTimeoutStopSec - StopBudget.CloseAllowance)} " +
                $"and appliance.cloudflared.grace_period at most {GoDuration.Format(StopBudget.PackagedTimeoutStopSec - StopBudget.CloseAllowance - StopBudget.CloudflaredKillMargin)}, " +
                "or give the unit more time in a drop-in (systemctl edit mcp-tunnel: [Service] TimeoutStopSec=...)");
        }

        /// <summary>Where the nesting first exceeds <see cref="MaxNestingDepth"/>, or null.</summary>
        private static Mark? TooDeep(string text)
        {
            var parser = new Parser(new StringReader(text));
            var depth = 0;
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                        if (++depth > MaxNestingDepth)
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

        /// <summary>
        /// Why a host name cannot be matched against a request's Host, or null. Hosts are compared in their ASCII
        /// (punycode) form as sent, so a Unicode name would never match; the message gives the form to write.
        /// </summary>
        private static string? HostNameProblem(string name)
        {
            if (!System.Text.Ascii.IsValid(name))
            {
                try
                {
                    return $"\"{name}\" is not ASCII: clients send internationalized names in their punycode form; write \"{new System.Globalization.IdnMapping().GetAscii(name)}\"";
                }
                catch (ArgumentException)
                {
                    return $"\"{name}\" is not ASCII and has no punycode form; use an ASCII name";
                }
            }

            foreach (var label in name.Split('.'))
            {
                if (label.StartsWith("xn--", StringComparison.Ordinal))
                {
                    try
                    {
                        new System.Globalization.IdnMapping().GetUnicode(label);
                    }
                    catch (ArgumentException)
                    {
                        return $"\"{label}\" is not valid punycode, so no request can match it (the gateway answers 400 to such a Host)";
                    }
                }
            }

            return null;
        }

        private Dictionary<string, (YamlNode Key, YamlNode Value)> Fields(YamlMappingNode node, string prefix, string[] known, bool strict)
        {
            var fields = new Dictionary<string, (YamlNode, YamlNode)>(StringComparer.Ordinal);
            foreach (var (key, value) in node.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                var path = prefix + name;
                if (!known.Contains(name))
                {
                    var hint = known.FirstOrDefault(k => Similar(k, name)) is { } close ? $"; did you mean {prefix}{close}?" : "";
                    if (strict)
                    {
                        Error(key, path, $"unknown field{hint}{(hint.Length == 0 ? $"; known fields are {string.Join(", ", known)}" : "")}");
                    }
                    else
                    {
                        Warn(key, path, $"unknown field, ignored{hint}");
                    }

                    continue;
                }

                fields[name] = (key, value);
            }

            return fields;
        }

        private static bool Similar(string a, string b)
        {
            if (Math.Abs(a.Length - b.Length) > 2)
            {
                return false;
            }

            // Levenshtein distance of at most two catches the usual typos (listen_adr, tunel_domain).
            var d = new int[a.Length + 1, b.Length + 1];
            for (var i = 0; i <= a.Length; i++)
            {
                d[i, 0] = i;
            }

            for (var j = 0; j <= b.Length; j++)
            {
                d[0, j] = j;
            }

            for (var i = 1; i <= a.Length; i++)
            {
                for (var j = 1; j <= b.Length; j++)
                {
                    var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                    d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                }
            }

            return d[a.Length, b.Length] <= 2;
        }

        private string? Scalar(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string name, string path)
        {
            if (!fields.TryGetValue(name, out var field))
            {
                return null;
            }

            if (field.Value is YamlScalarNode scalar)
            {
                return scalar.Value ?? "";
            }

            Error(field.Value, path, $"must be a single value, not a {Kind(field.Value)}");
            return null;
        }

        private static string Kind(YamlNode node) => node switch
        {
            YamlSequenceNode => "list",
            YamlMappingNode => "mapping",
            _ => "value",
        };

        private ListenAddress? ReadListenAddress(Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
        {
            var text = Scalar(fields, "listen_addr", "listen_addr");
            if (string.IsNullOrWhiteSpace(text))
            {
                if (!fields.ContainsKey("listen_addr") || text is not null)
                {
                    Error(fields.TryGetValue("listen_addr", out var f) ? f.Value : null, "listen_addr",
                        "is required; set it to the address cloudflared connects to, for example \"127.0.0.1:8080\"");
                }

                return null;
            }

            if (!ListenAddress.TryParse(text.Trim(), out var address, out var reason))
            {
                Error(fields["listen_addr"].Value, "listen_addr", $"invalid address \"{text}\": {reason}");
                return null;
            }

            return address;
        }

        private string ReadLogLevel(Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
        {
            var text = Scalar(fields, "log_level", "log_level");
            if (text is null)
            {
                return "info";
            }

            var level = text.Trim().ToLowerInvariant();
            if (level == "warning")
            {
                level = "warn";
            }

            if (!LogLevels.Contains(level))
            {
                Error(fields["log_level"].Value, "log_level", $"unknown level \"{text}\"; use one of debug, info, warn, error");
                return "info";
            }

            return level;
        }

        private TimeSpan ReadDuration(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string name, string path, TimeSpan fallback, bool allowZero)
        {
            var text = Scalar(fields, name, path);
            if (text is null)
            {
                return fallback;
            }

            if (!GoDuration.TryParse(text, out var value) || value < TimeSpan.Zero)
            {
                Error(fields[name].Value, path, $"invalid duration \"{text}\"; write it like 30s, 5m or 1h30m (a number alone is not a duration)");
                return fallback;
            }

            if (!allowZero && value == TimeSpan.Zero)
            {
                Error(fields[name].Value, path, "must be greater than zero");
                return fallback;
            }

            return value;
        }

        private string ReadTunnelDomain(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string? tunnelDomainOverride)
        {
            var text = tunnelDomainOverride ?? Scalar(fields, "tunnel_domain", "tunnel_domain") ?? "";
            var domain = text.Trim().TrimEnd('.').ToLowerInvariant();
            if (domain.StartsWith("*.", StringComparison.Ordinal) || domain.Contains("://", StringComparison.Ordinal) || domain.Contains('/', StringComparison.Ordinal))
            {
                var node = tunnelDomainOverride is null && fields.TryGetValue("tunnel_domain", out var f) ? f.Value : null;
                Error(node, tunnelDomainOverride is null ? "tunnel_domain" : "-tunnel-domain",
                    $"\"{text}\" is not a bare domain; write it as shown on the tunnel's page, for example abcd1234.tunnel.anthropic.com");
            }
            else if (HostNameProblem(domain) is { } hostProblem)
            {
                var node = tunnelDomainOverride is null && fields.TryGetValue("tunnel_domain", out var f) ? f.Value : null;
                Error(node, tunnelDomainOverride is null ? "tunnel_domain" : "-tunnel-domain", hostProblem);
            }

            return domain;
        }

        private TlsConfig? ReadTls(Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
        {
            if (!fields.TryGetValue("tls", out var tlsField))
            {
                Error(null, "tls", "is required; set tls.cert_file and tls.key_file to the server certificate and key (for example /var/lib/mcp-tunnel/tls.crt and tls.key)");
                return null;
            }

            if (tlsField.Value is not YamlMappingNode tlsNode)
            {
                Error(tlsField.Value, "tls", "must be a mapping with cert_file and key_file");
                return null;
            }

            var tls = Fields(tlsNode, "tls.", ["cert_file", "key_file"], strict: false);
            var cert = RequiredFile(tls, tlsField.Value, "cert_file", "tls.cert_file", "the server certificate (PEM)");
            var key = RequiredFile(tls, tlsField.Value, "key_file", "tls.key_file", "the server private key (PEM)");
            return cert is null || key is null ? null : new TlsConfig(cert, key);
        }

        private string? RequiredFile(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, YamlNode parent, string name, string path, string what)
        {
            var text = Scalar(fields, name, path);
            if (string.IsNullOrWhiteSpace(text))
            {
                Error(fields.TryGetValue(name, out var f) ? f.Value : parent, path, $"is required: the path of {what}");
                return null;
            }

            return CheckFile(fields[name].Value, path, text.Trim());
        }

        private string CheckFile(YamlNode node, string path, string file)
        {
            var full = Path.IsPathRooted(file) || fileBaseDirectory is null ? file : Path.GetFullPath(Path.Combine(fileBaseDirectory, file));
            if (!checkFiles)
            {
                return full;
            }

            try
            {
                using var stream = File.OpenRead(full);
            }
            catch (FileNotFoundException)
            {
                Error(node, path, $"open {full}: no such file or directory (run `mcp-tunnel setup init` or `mcp-tunnel cert init`, or fix the path)");
            }
            catch (DirectoryNotFoundException)
            {
                Error(node, path, $"open {full}: no such file or directory (the directory does not exist)");
            }
            catch (UnauthorizedAccessException)
            {
                Error(node, path, $"open {full}: permission denied (the file must be readable by the user the gateway runs as)");
            }
            catch (IOException ex)
            {
                Error(node, path, $"open {full}: {ex.Message}");
            }

            return full;
        }

        private Dictionary<string, UpstreamTarget>? ReadRoutes(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string tunnelDomain)
        {
            if (!fields.TryGetValue("routes", out var routesField))
            {
                Error(null, "routes", "is required: a mapping of subdomain (or full host name) to upstream, for example `routes: { echo: http://10.0.0.5:9000 }`");
                return null;
            }

            var routes = new Dictionary<string, UpstreamTarget>(StringComparer.Ordinal);
            switch (routesField.Value)
            {
                case YamlSequenceNode:
                    Error(routesField.Value, "routes", "cannot unmarshal !!seq into map[string]string: routes is a mapping, not a list; write `routes: { name: http://host:port }`");
                    return null;
                case YamlScalarNode { Value: null or "" }:
                case YamlMappingNode { Children.Count: 0 }:
                    Warn(routesField.Value, "routes", "no routes are configured; every request will get 502 No route configured for host");
                    return routes;
                case YamlScalarNode:
                    Error(routesField.Value, "routes", "must be a mapping of subdomain to upstream, not a single value");
                    return null;
            }

            var bareLabelWarned = false;
            foreach (var (keyNode, valueNode) in ((YamlMappingNode)routesField.Value).Children)
            {
                var rawKey = (keyNode as YamlScalarNode)?.Value ?? "";
                var key = rawKey.Trim().TrimEnd('.').ToLowerInvariant();
                var path = $"routes.{rawKey}";
                if (key.Length == 0)
                {
                    Error(keyNode, "routes", "a route key is empty; use a subdomain such as echo or a full host name");
                    continue;
                }

                if (key.Contains('*', StringComparison.Ordinal) || key.Contains('/', StringComparison.Ordinal) || key.Contains(':', StringComparison.Ordinal))
                {
                    Error(keyNode, path, "a route key is a subdomain or host name only: no wildcard, port, scheme or path");
                    continue;
                }

                if (HostNameProblem(key) is { } hostProblem)
                {
                    Error(keyNode, path, $"route key {hostProblem}");
                    continue;
                }

                if (valueNode is not YamlScalarNode { Value: { } value })
                {
                    Error(valueNode, path, $"cannot unmarshal {(valueNode is YamlSequenceNode ? "!!seq" : "!!map")} into string: the upstream is a single scheme://host:port value");
                    continue;
                }

                if (!UpstreamTarget.TryParse(value.Trim(), out var target, out var reason))
                {
                    Error(valueNode, path, $"{UpstreamTarget.InvalidUpstream}: \"{value}\": {reason}");
                    continue;
                }

                if (!routes.TryAdd(key, target!))
                {
                    Error(keyNode, path, $"duplicate route \"{key}\" (route keys are case-insensitive)");
                    continue;
                }

                _routeNodes[key] = valueNode;

                if (target!.Host.Contains(':', StringComparison.Ordinal))
                {
                    Warn(valueNode, path, "an IPv6 upstream can never be dialled: the gateway reaches upstreams over IPv4 only");
                }

                if (tunnelDomain.Length == 0 && !key.Contains('.', StringComparison.Ordinal) && !bareLabelWarned)
                {
                    bareLabelWarned = true;
                    Warn(keyNode, path, "is a bare subdomain but tunnel_domain is empty, so it only matches a request for the host name exactly; set tunnel_domain (or pass -tunnel-domain)");
                }
            }

            return routes;
        }

        private UpstreamConfig? ReadUpstream(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, Dictionary<string, UpstreamTarget>? routes)
        {
            var result = new UpstreamConfig();
            YamlNode? upstreamNode = null;
            if (fields.TryGetValue("upstream", out var upstreamField))
            {
                upstreamNode = upstreamField.Value;
                if (upstreamField.Value is YamlScalarNode { Value: null or "" })
                {
                    upstreamNode = null;
                }
                else if (upstreamField.Value is not YamlMappingNode upstreamMap)
                {
                    Error(upstreamField.Value, "upstream", "must be a mapping (allowed_ips, disable_ip_validation, tls)");
                    return null;
                }
                else
                {
                    var upstream = Fields(upstreamMap, "upstream.", ["allowed_ips", "disable_ip_validation", "tls"], strict: false);
                    var disable = ReadBool(upstream, "disable_ip_validation", "upstream.disable_ip_validation");
                    result = result with { DisableIpValidation = disable };

                    if (upstream.TryGetValue("allowed_ips", out var ipsField))
                    {
                        if (disable)
                        {
                            Error(ipsField.Key, "upstream.allowed_ips",
                                "allowed_ips and disable_ip_validation are mutually exclusive; remove one of them");
                        }

                        result = result with { AllowedIps = ReadAllowedIps(ipsField.Value), AllowedIpsConfigured = true };
                    }

                    if (upstream.TryGetValue("tls", out var tlsField) && tlsField.Value is not YamlScalarNode { Value: null or "" })
                    {
                        if (tlsField.Value is not YamlMappingNode tlsMap)
                        {
                            Error(tlsField.Value, "upstream.tls", "must be a mapping (ca_file, include_system_cas)");
                        }
                        else
                        {
                            var tls = Fields(tlsMap, "upstream.tls.", ["ca_file", "include_system_cas"], strict: false);
                            var caFile = Scalar(tls, "ca_file", "upstream.tls.ca_file");
                            if (!string.IsNullOrWhiteSpace(caFile))
                            {
                                caFile = CheckFile(tls["ca_file"].Value, "upstream.tls.ca_file", caFile.Trim());
                            }

                            result = result with
                            {
                                CaFile = string.IsNullOrWhiteSpace(caFile) ? null : caFile,
                                IncludeSystemCas = ReadBool(tls, "include_system_cas", "upstream.tls.include_system_cas"),
                            };
                        }
                    }
                }
            }

            if (result.DisableIpValidation)
            {
                result = result with { AllowedIps = [] };
            }

            if (routes is not null && result.CaFile is null && !result.IncludeSystemCas)
            {
                foreach (var (name, target) in routes.Where(r => r.Value.IsHttps))
                {
                    Error(_routeNodes.GetValueOrDefault(name) ?? upstreamNode, $"routes.{name}",
                        $"https upstream {target} has no trust anchor: set upstream.tls.ca_file to the CA bundle that signed it, and/or upstream.tls.include_system_cas: true");
                }
            }

            return result;
        }

        private List<Ipv4Cidr> ReadAllowedIps(YamlNode node)
        {
            var list = new List<Ipv4Cidr>();
            if (node is YamlScalarNode { Value: null or "" })
            {
                Warn(node, "upstream.allowed_ips", "is empty, so no upstream can be dialled; list networks such as 10.0.0.0/8, or remove the field to use the RFC 1918 default");
                return list;
            }

            if (node is not YamlSequenceNode sequence)
            {
                Error(node, "upstream.allowed_ips", "must be a list, for example `allowed_ips: [10.0.0.0/8, 127.0.0.0/8]`");
                return list;
            }

            foreach (var item in sequence.Children)
            {
                if (item is not YamlScalarNode { Value: { } text } || !Ipv4Cidr.TryParse(text.Trim(), out var cidr, out var error))
                {
                    Error(item, "upstream.allowed_ips", item is YamlScalarNode s ? Ipv4Cidr.TryParse(s.Value ?? "", out _, out var e) ? "" : e! : "each entry must be a single address or CIDR");
                    continue;
                }

                if (cidr.PrefixLength < 8)
                {
                    Warn(item, "upstream.allowed_ips", $"{cidr} allows a large part of the internet and weakens the SSRF defence; list the narrowest networks your upstreams use");
                }

                list.Add(cidr);
            }

            if (sequence.Children.Count == 0)
            {
                Warn(node, "upstream.allowed_ips", "is empty, so no upstream can be dialled; list networks such as 10.0.0.0/8, or remove the field to use the RFC 1918 default");
            }

            return list;
        }

        private bool ReadBool(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string name, string path)
        {
            var text = Scalar(fields, name, path);
            if (text is null)
            {
                return false;
            }

            switch (text.Trim().ToLowerInvariant())
            {
                case "true" or "yes" or "on":
                    return true;
                case "false" or "no" or "off" or "":
                    return false;
                default:
                    Error(fields[name].Value, path, $"\"{text}\" is not a boolean; use true or false");
                    return false;
            }
        }

        /// <summary>A connection count for a limit: a whole number from <paramref name="minimum"/> to <see cref="MaxCount"/>; null when not set.</summary>
        private int? ReadCount(Dictionary<string, (YamlNode Key, YamlNode Value)> fields, string name, string path, int minimum)
        {
            var text = Scalar(fields, name, path);
            if (text is null)
            {
                return null;
            }

            if (int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= minimum && value <= MaxCount)
            {
                return value;
            }

            Error(fields[name].Value, path, $"\"{text}\" must be a whole number from {minimum} to {MaxCount}; leave it out to derive it from the descriptor limit (LimitNOFILE)");
            return null;
        }

        private ApplianceConfig? ReadAppliance(Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
        {
            var result = new ApplianceConfig();
            if (!fields.TryGetValue("appliance", out var field) || field.Value is YamlScalarNode { Value: null or "" })
            {
                return result;
            }

            if (field.Value is not YamlMappingNode map)
            {
                Error(field.Value, "appliance", "must be a mapping of appliance settings");
                return null;
            }

            var known = new[]
            {
                "upstream_connect_timeout", "tls_handshake_timeout", "cert_poll_interval", "websocket_keepalive",
                "upstream_idle_timeout", "request_headers_timeout", "max_request_headers_bytes", "websocket_paths", "health_addr", "data_dir", "cloudflared",
                "upgrade_timeout", "first_request_timeout", "max_connections", "max_sessions",
                "offline",
            };
            var a = Fields(map, "appliance.", known, strict: true);
            result = result with
            {
                UpstreamConnectTimeout = ReadDuration(a, "upstream_connect_timeout", "appliance.upstream_connect_timeout", result.UpstreamConnectTimeout, allowZero: false),
                TlsHandshakeTimeout = ReadDuration(a, "tls_handshake_timeout", "appliance.tls_handshake_timeout", result.TlsHandshakeTimeout, allowZero: false),
                CertPollInterval = ReadDuration(a, "cert_poll_interval", "appliance.cert_poll_interval", result.CertPollInterval, allowZero: false),
                WebSocketKeepAlive = ReadDuration(a, "websocket_keepalive", "appliance.websocket_keepalive", result.WebSocketKeepAlive, allowZero: true),
                UpstreamIdleTimeout = ReadDuration(a, "upstream_idle_timeout", "appliance.upstream_idle_timeout", result.UpstreamIdleTimeout, allowZero: true),
                RequestHeadersTimeout = ReadDuration(a, "request_headers_timeout", "appliance.request_headers_timeout", result.RequestHeadersTimeout, allowZero: false),
                UpgradeTimeout = ReadDuration(a, "upgrade_timeout", "appliance.upgrade_timeout", result.UpgradeTimeout, allowZero: false),
                FirstRequestTimeout = ReadDuration(a, "first_request_timeout", "appliance.first_request_timeout", result.FirstRequestTimeout, allowZero: false),
                MaxConnections = ReadCount(a, "max_connections", "appliance.max_connections", 2),
                MaxSessions = ReadCount(a, "max_sessions", "appliance.max_sessions", 1),
                Offline = ReadBool(a, "offline", "appliance.offline"),
            };
            if (result is { MaxConnections: { } connections, MaxSessions: { } sessions } && sessions >= connections)
            {
                Error(a["max_sessions"].Value, "appliance.max_sessions",
                    $"{sessions} must be less than appliance.max_connections ({connections}): connections that have not finished their WebSocket upgrade yet need room beside the sessions");
            }

            if (Scalar(a, "max_request_headers_bytes", "appliance.max_request_headers_bytes") is { } headerText)
            {
                if (int.TryParse(headerText, out var bytes) && bytes is >= 1024 and <= 1024 * 1024)
                {
                    result = result with { MaxRequestHeadersBytes = bytes };
                }
                else
                {
                    Error(a["max_request_headers_bytes"].Value, "appliance.max_request_headers_bytes", $"\"{headerText}\" must be a number of bytes from 1024 to 1048576");
                }
            }

            if (a.TryGetValue("websocket_paths", out var pathsField))
            {
                if (pathsField.Value is YamlSequenceNode paths && paths.Children.All(p => p is YamlScalarNode { Value: ['/', ..] }))
                {
                    result = result with { WebSocketPaths = [.. paths.Children.Select(p => ((YamlScalarNode)p).Value!)] };
                }
                else
                {
                    Error(pathsField.Value, "appliance.websocket_paths", "must be a list of absolute paths, for example [\"/\"]");
                }
            }

            if (Scalar(a, "health_addr", "appliance.health_addr") is { Length: > 0 } health)
            {
                if (ListenAddress.TryParse(health.Trim(), out var address, out var reason) && address!.Port == 0)
                {
                    Error(a["health_addr"].Value, "appliance.health_addr", "needs a fixed port, for example 127.0.0.1:9090");
                }
                else if (address is not null)
                {
                    if (!address!.IsLoopbackOnly)
                    {
                        Warn(a["health_addr"].Value, "appliance.health_addr", "is not a loopback address: /metrics and /readyz will be reachable from the network");
                    }

                    result = result with { HealthAddr = address };
                }
                else
                {
                    Error(a["health_addr"].Value, "appliance.health_addr", $"invalid address \"{health}\": {reason}");
                }
            }

            if (Scalar(a, "data_dir", "appliance.data_dir") is { Length: > 0 } dataDir)
            {
                result = result with { DataDir = Path.IsPathRooted(dataDir) || fileBaseDirectory is null ? dataDir : Path.GetFullPath(Path.Combine(fileBaseDirectory, dataDir)) };
            }

            if (a.TryGetValue("cloudflared", out var cloudflaredField) && cloudflaredField.Value is not YamlScalarNode { Value: null or "" })
            {
                if (cloudflaredField.Value is not YamlMappingNode cloudflaredMap)
                {
                    Error(cloudflaredField.Value, "appliance.cloudflared", "must be a mapping (enabled, binary, metrics_addr, grace_period, protocol, edge_ip_version)");
                }
                else
                {
                    var c = Fields(cloudflaredMap, "appliance.cloudflared.", ["enabled", "binary", "metrics_addr", "grace_period", "protocol", "edge_ip_version"], strict: true);
                    var cloudflared = result.Cloudflared with
                    {
                        Enabled = !c.ContainsKey("enabled") || ReadBool(c, "enabled", "appliance.cloudflared.enabled"),
                        Binary = Scalar(c, "binary", "appliance.cloudflared.binary") is { Length: > 0 } binary ? binary : result.Cloudflared.Binary,
                        GracePeriod = ReadDuration(c, "grace_period", "appliance.cloudflared.grace_period", result.Cloudflared.GracePeriod, allowZero: false),
                    };
                    if (cloudflared.GracePeriod > TimeSpan.FromMinutes(3))
                    {
                        Error(c["grace_period"].Value, "appliance.cloudflared.grace_period", "must be at most 3m (cloudflared's own limit)");
                    }

                    if (Scalar(c, "metrics_addr", "appliance.cloudflared.metrics_addr") is { Length: > 0 } metrics)
                    {
                        if (ListenAddress.TryParse(metrics, out var m, out _) && m!.IsLoopbackOnly)
                        {
                            cloudflared = cloudflared with { MetricsAddr = metrics };
                        }
                        else
                        {
                            Error(c["metrics_addr"].Value, "appliance.cloudflared.metrics_addr", $"\"{metrics}\" must be a loopback address: 127.0.0.1:0 (a free port at each start, the default) or a fixed one such as 127.0.0.1:20241");
                        }
                    }

                    if (Scalar(c, "protocol", "appliance.cloudflared.protocol") is { } protocol)
                    {
                        if (protocol is "auto" or "quic" or "http2")
                        {
                            cloudflared = cloudflared with { Protocol = protocol };
                        }
                        else
                        {
                            Error(c["protocol"].Value, "appliance.cloudflared.protocol", $"\"{protocol}\" is not auto, quic or http2");
                        }
                    }

                    if (Scalar(c, "edge_ip_version", "appliance.cloudflared.edge_ip_version") is { } ipVersion)
                    {
                        if (ipVersion is "auto" or "4" or "6")
                        {
                            cloudflared = cloudflared with { EdgeIpVersion = ipVersion };
                        }
                        else
                        {
                            Error(c["edge_ip_version"].Value, "appliance.cloudflared.edge_ip_version", $"\"{ipVersion}\" is not auto, 4 or 6");
                        }
                    }

                    result = result with { Cloudflared = cloudflared };
                }
            }

            return result;
        }
    }
}
