using System.Globalization;

namespace FakeCloudflared;

/// <summary>
/// Which cloudflared release the stand-in plays. <c>FAKE_CLOUDFLARED_VERSION</c> is what <c>--version</c> prints
/// (default: the release packaging/cloudflared.pin bundles; <c>DEV</c> is what a build without release flags
/// prints); <c>FAKE_CLOUDFLARED_SOURCE</c> is the source tag whose command line it accepts, when that differs
/// (a <c>DEV</c> build of an old tree). Flags added after the played source are unknown to it, exactly as the
/// real binary of that release rejects them (facts from cloudflared's git history and RELEASE_NOTES):
/// <c>--token-file</c> 2025.4.0 ("Adds a new command line for tunnel run for token file"), <c>--output</c>
/// 2025.6.1 (TUN-9371 "Add logging format as JSON"), <c>--no-prechecks</c> 2026.5.0 (TUN-10387).
/// </summary>
internal sealed record Release(string Printed, int Year, int Month, int Patch)
{
    public const string Pinned = "2026.11.2";

    public static readonly Release TokenFile = Parse("2025.4.0");
    public static readonly Release JsonOutput = Parse("2025.6.1");
    public static readonly Release NoPrechecks = Parse("2026.5.0");

    public static Release Current()
    {
        var printed = Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_VERSION") ?? Pinned;
        var source = Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_SOURCE") ?? (printed == "DEV" ? Pinned : printed);
        return Parse(source) with { Printed = printed };
    }

    public static Release Parse(string text)
    {
        var parts = text.Split('.');
        return new Release(text, int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    public bool AtLeast(Release other) => (Year, Month, Patch).CompareTo((other.Year, other.Month, other.Patch)) >= 0;
}
