using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary>
/// The proxy's top-level scalar fields and its <c>tls:</c> section: <c>listen_addr</c>, <c>log_level</c>,
/// <c>shutdown_timeout</c>, <c>tunnel_domain</c> (or the value that overrides it) and the server certificate's files.
/// </summary>
internal static class TopLevelReader
{
    /// <summary>Every top-level field; the sections have readers of their own.</summary>
    public static readonly string[] Fields =
        ["listen_addr", "log_level", "shutdown_timeout", "tunnel_domain", "tls", "routes", "upstream", "appliance"];

    public static ListenAddress? ReadListenAddress(YamlSection top)
    {
        var text = top.Scalar("listen_addr");
        if (string.IsNullOrWhiteSpace(text))
        {
            if (!top.Has("listen_addr") || text is not null)
            {
                top.Error("listen_addr", "is required; set it to the address cloudflared connects to, for example \"127.0.0.1:8080\"");
            }

            return null;
        }

        if (!ListenAddress.TryParse(text.Trim(), out var address, out var reason))
        {
            top.Error("listen_addr", $"invalid address \"{text}\": {reason}");
            return null;
        }

        return address;
    }

    public static LogLevelSetting ReadLogLevel(YamlSection top)
    {
        var text = top.Scalar("log_level");
        if (text is null)
        {
            return GatewayConfig.DefaultLogLevel;
        }

        LogLevelSetting? level = text.Trim().ToLowerInvariant() switch
        {
            "debug" => LogLevelSetting.Debug,
            "info" => LogLevelSetting.Info,
            "warn" or "warning" => LogLevelSetting.Warn,
            "error" => LogLevelSetting.Error,
            _ => null,
        };
        if (level is null)
        {
            top.Error("log_level", $"unknown level \"{text}\"; use one of debug, info, warn, error");
        }

        return level ?? GatewayConfig.DefaultLogLevel;
    }

    public static TimeSpan ReadShutdownTimeout(YamlSection top) =>
        top.Duration("shutdown_timeout", GatewayConfig.DefaultShutdownTimeout, allowZero: true);

    /// <summary>
    /// The tunnel domain, lower case without a trailing dot: <paramref name="overrideValue"/> when given (the
    /// <c>-tunnel-domain</c> flag, or the data directory's stored domain when <paramref name="overrideFile"/> names
    /// that file), else the file's <c>tunnel_domain</c>. A problem is reported under the name of where the value came from.
    /// </summary>
    public static string ReadTunnelDomain(YamlSection top, string? overrideValue, string? overrideFile)
    {
        var text = overrideValue ?? top.Scalar("tunnel_domain") ?? "";
        var domain = text.Trim().TrimEnd('.').ToLowerInvariant();
        string? problem = null;
        if (domain.StartsWith("*.", StringComparison.Ordinal) || domain.Contains("://", StringComparison.Ordinal) || domain.Contains('/', StringComparison.Ordinal))
        {
            problem = $"\"{text}\" is not a bare domain; write it as shown on the tunnel's page, for example abcd1234.tunnel.anthropic.com";
        }
        else if (HostNames.Problem(domain) is { } hostProblem)
        {
            problem = hostProblem;
        }

        if (problem is null)
        {
            return domain;
        }

        if (overrideValue is null)
        {
            top.Error("tunnel_domain", problem);
        }
        else if (overrideFile is not null)
        {
            // Not the flag: the user never typed this value, so the message names the file that holds it.
            top.Context.Problems.Add(new ConfigProblem(overrideFile, 0, 0, "",
                $"{problem} (this file is read because the configuration sets no tunnel_domain: correct the file, or set tunnel_domain in the configuration)"));
        }
        else
        {
            top.Context.Error(null, "-tunnel-domain", problem);
        }

        return domain;
    }

    public static TlsConfig? ReadTls(YamlSection top)
    {
        if (!top.Has("tls"))
        {
            top.Error("tls", "is required; set tls.cert_file and tls.key_file to the server certificate and key (for example /var/lib/mcp-tunnel/tls.crt and tls.key)");
            return null;
        }

        if (top.Value("tls") is not YamlMappingNode tlsNode)
        {
            top.Error("tls", "must be a mapping with cert_file and key_file");
            return null;
        }

        var tls = top.Context.Section(tlsNode, "tls.", ["cert_file", "key_file"], strict: false);
        var cert = RequiredFile(tls, tlsNode, "cert_file", "the server certificate (PEM)");
        var key = RequiredFile(tls, tlsNode, "key_file", "the server private key (PEM)");
        return cert is null || key is null ? null : new TlsConfig(cert, key);
    }

    private static string? RequiredFile(YamlSection section, YamlNode parent, string name, string what)
    {
        var text = section.Scalar(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            section.Context.Error(section.Value(name) ?? parent, section.PathOf(name), $"is required: the path of {what}");
            return null;
        }

        return section.Context.CheckFile(section.Value(name)!, section.PathOf(name), text.Trim());
    }
}
