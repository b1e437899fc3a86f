using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary><c>upstream:</c>, how the gateway may reach upstreams: the IP policy and the trust for https ones.</summary>
internal static class UpstreamReader
{
    private const string AllowedIps = "upstream.allowed_ips";

    private const string EmptyAllowedIps = "is empty, so no upstream can be dialled; list networks such as 10.0.0.0/8, or remove the field to use the RFC 1918 default";

    /// <summary>
    /// The section (its defaults when absent); null when it is not a mapping. An https route needs a trust anchor, so
    /// without one each such route is an error at its value in <paramref name="routeNodes"/>.
    /// </summary>
    public static UpstreamConfig? Read(YamlSection top, IReadOnlyDictionary<string, UpstreamTarget>? routes, IReadOnlyDictionary<string, YamlNode> routeNodes)
    {
        var context = top.Context;
        if (!top.TryNested("upstream", "must be a mapping (allowed_ips, disable_ip_validation, tls)", ["allowed_ips", "disable_ip_validation", "tls"], strict: false, out var upstream))
        {
            return null;
        }

        var result = new UpstreamConfig();
        if (upstream is not null)
        {
            var disable = upstream.Bool("disable_ip_validation");
            result = result with { DisableIpValidation = disable };

            if (upstream.Value("allowed_ips") is { } ips)
            {
                if (disable)
                {
                    context.Error(upstream.Key("allowed_ips"), AllowedIps, "allowed_ips and disable_ip_validation are mutually exclusive; remove one of them");
                }

                result = result with { AllowedIps = ReadAllowedIps(context, ips), AllowedIpsConfigured = true };
            }

            if (upstream.TryNested("tls", "must be a mapping (ca_file, include_system_cas)", ["ca_file", "include_system_cas"], strict: false, out var tls) && tls is not null)
            {
                var caFile = tls.Scalar("ca_file");
                if (!string.IsNullOrWhiteSpace(caFile))
                {
                    caFile = context.CheckFile(tls.Value("ca_file")!, tls.PathOf("ca_file"), caFile.Trim());
                }

                result = result with
                {
                    CaFile = string.IsNullOrWhiteSpace(caFile) ? null : caFile,
                    IncludeSystemCas = tls.Bool("include_system_cas"),
                };
            }
        }

        if (result.DisableIpValidation)
        {
            result = result with { AllowedIps = [] };
        }

        if (routes is not null && result.CaFile is null && !result.IncludeSystemCas)
        {
            var upstreamNode = upstream is null ? null : top.Value("upstream");
            foreach (var (name, target) in routes.Where(r => r.Value.IsHttps))
            {
                context.Error(routeNodes.GetValueOrDefault(name) ?? upstreamNode, $"routes.{name}",
                    $"https upstream {target} has no trust anchor: set upstream.tls.ca_file to the CA bundle that signed it, and/or upstream.tls.include_system_cas: true");
            }
        }

        return result;
    }

    private static List<Ipv4Cidr> ReadAllowedIps(ReadContext context, YamlNode node)
    {
        var list = new List<Ipv4Cidr>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            context.Warn(node, AllowedIps, EmptyAllowedIps);
            return list;
        }

        if (node is not YamlSequenceNode sequence)
        {
            context.Error(node, AllowedIps, "must be a list, for example `allowed_ips: [10.0.0.0/8, 127.0.0.0/8]`");
            return list;
        }

        foreach (var item in sequence.Children)
        {
            if (item is not YamlScalarNode { Value: { } text } || !Ipv4Cidr.TryParse(text.Trim(), out var cidr, out var error))
            {
                context.Error(item, AllowedIps, item is YamlScalarNode s ? Ipv4Cidr.TryParse(s.Value ?? "", out _, out var e) ? "" : e! : "each entry must be a single address or CIDR");
                continue;
            }

            if (cidr.PrefixLength < 8)
            {
                context.Warn(item, AllowedIps, $"{cidr} allows a large part of the internet and weakens the SSRF defence; list the narrowest networks your upstreams use");
            }

            list.Add(cidr);
        }

        if (sequence.Children.Count == 0)
        {
            context.Warn(node, AllowedIps, EmptyAllowedIps);
        }

        return list;
    }
}
