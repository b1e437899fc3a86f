using System.Net;
using McpTunnel.Configuration;

namespace McpTunnel.Gateway.Upstream;

/// <summary>
/// The SSRF defence (spec 2.4, open question 13): an upstream address may be dialled only when it is IPv4
/// and inside <c>upstream.allowed_ips</c> (default RFC 1918), unless validation is disabled.
/// </summary>
public sealed class UpstreamIpPolicy
{
    private readonly Ipv4Cidr[] _allowed;

    public UpstreamIpPolicy(UpstreamConfig config)
    {
        Disabled = config.DisableIpValidation;
        _allowed = [.. config.AllowedIps];
        Description = Disabled ? "validation disabled" : _allowed.Length == 0 ? "nothing" : string.Join(",", _allowed);
    }

    public bool Disabled { get; }

    /// <summary>The allowed networks, for log lines.</summary>
    public string Description { get; }

    public bool IsAllowed(IPAddress address)
    {
        if (Disabled)
        {
            return true;
        }

        foreach (var network in _allowed)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The rule that admits the address, or null; for <c>doctor</c> and tests.</summary>
    public string? MatchingRule(IPAddress address) =>
        Disabled ? "disable_ip_validation" : _allowed.Where(n => n.Contains(address)).Select(n => n.ToString()).FirstOrDefault();
}
