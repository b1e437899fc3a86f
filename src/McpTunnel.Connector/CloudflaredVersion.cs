using System.Globalization;
using System.Text.RegularExpressions;
using McpTunnel.Configuration;

namespace McpTunnel.Connector;

/// <summary>
/// A cloudflared release number (<c>YYYY.M.P</c>) and the version policy of the connector. This is the one place
/// that says which releases are supported and why; <c>run</c>, <c>doctor</c> and the pin test all read it.
/// </summary>
/// <remarks>
/// Facts from cloudflared's git history, RELEASE_NOTES and CHANGES.md (checked at the tags named):
/// <list type="bullet">
/// <item><c>run --token-file</c> arrived in <b>2025.4.0</b> ("feat: Adds a new command line for tunnel run for token
/// file"; absent at 2025.2.1). The connector needs it: the token goes neither into argv (<c>ps</c>) nor into the
/// child's environment (cloudflared's usage text prints <c>TUNNEL_TOKEN</c>'s value). Older releases are refused.</item>
/// <item><c>--output json</c> (TUN-9371, <b>2025.6.1</b>): optional; older releases log in zerolog's console format,
/// which the connector reads as well.</item>
/// <item><c>--no-prechecks</c> (TUN-10387, <b>2026.5.0</b>): optional; older releases run no pre-checks anyway.</item>
/// <item>Everything else the connector passes (<c>--no-autoupdate</c>, <c>--config</c>, <c>--metrics</c>,
/// <c>--loglevel</c>, <c>--transport-loglevel</c>, <c>--grace-period</c>, <c>--label</c>,
/// <c>--management-diagnostics</c>, <c>--protocol</c>, <c>--edge-ip-version auto|4|6</c>, <c>/ready</c> and the
/// "Starting metrics server on" line) is present at 2025.4.0.</item>
/// </list>
/// A binary whose version cannot be read (a build without release flags says <c>DEV</c>) is given the full command
/// line; if it rejects it, the usage text it prints says which flag, and that is reported instead.
/// </remarks>
public readonly partial record struct CloudflaredVersion(int Year, int Month, int Patch) : IComparable<CloudflaredVersion>
{
    /// <summary>The oldest release the connector supports: the first with <c>run --token-file</c>.</summary>
    public static readonly CloudflaredVersion Minimum = new(2025, 4, 0);

    /// <summary>First release with <c>--output json</c>.</summary>
    public static readonly CloudflaredVersion JsonOutput = new(2025, 6, 1);

    /// <summary>First release with <c>--no-prechecks</c>.</summary>
    public static readonly CloudflaredVersion NoPrechecks = new(2026, 5, 0);

    /// <summary>Why <see cref="Minimum"/>, in the words of the error message.</summary>
    public const string MinimumReason = "the first release with run --token-file, which keeps the tunnel token out of argv and the environment";

    public bool Supported => this >= Minimum;

    public static CloudflaredVersion? Parse(string text)
    {
        var match = Number().Match(text);
        return match.Success
            ? new CloudflaredVersion(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture))
            : null;
    }

    /// <summary>The release in <c>cloudflared --version</c>'s output (<c>cloudflared version 2026.8.2 (built …)</c>).</summary>
    public static CloudflaredVersion? FromVersionOutput(string output)
    {
        var match = VersionLine().Match(output);
        return match.Success ? Parse(match.Groups[1].Value) : null;
    }

    /// <summary>What <c>run</c> logs and <c>doctor</c> prints for a release below <see cref="Minimum"/> (the same words).</summary>
    public static string TooOld(string found, string binary) =>
        $"cloudflared {found} at {binary} is older than {Minimum}, the oldest release mcp-tunnel supports ({MinimumReason}); " +
        $"install the mcp-tunnel package's cloudflared ({CloudflaredConfig.PackagedBinary}) or point appliance.cloudflared.binary at cloudflared {Minimum} or newer";

    public int CompareTo(CloudflaredVersion other) => (Year, Month, Patch).CompareTo((other.Year, other.Month, other.Patch));

    public static bool operator <(CloudflaredVersion a, CloudflaredVersion b) => a.CompareTo(b) < 0;

    public static bool operator >(CloudflaredVersion a, CloudflaredVersion b) => a.CompareTo(b) > 0;

    public static bool operator <=(CloudflaredVersion a, CloudflaredVersion b) => a.CompareTo(b) <= 0;

    public static bool operator >=(CloudflaredVersion a, CloudflaredVersion b) => a.CompareTo(b) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Year}.{Month}.{Patch}");

    [GeneratedRegex(@"^(\d{4})\.(\d{1,2})\.(\d+)$")]
    private static partial Regex Number();

    [GeneratedRegex(@"cloudflared version (\S+)")]
    private static partial Regex VersionLine();
}
