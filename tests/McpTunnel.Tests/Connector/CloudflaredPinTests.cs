using System.Text.RegularExpressions;
using McpTunnel.Connector;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Connector;

/// <summary>The release packaging/cloudflared.pin bundles, against the connector's version policy.</summary>
public sealed partial class CloudflaredPinTests
{
    private static Dictionary<string, string> Pin() =>
        File.ReadAllLines(Path.Combine(McpTunnelProcess.RepoRoot(), "packaging", "cloudflared.pin"))
            .Where(l => Assignment().IsMatch(l))
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);

    [Fact]
    public void The_bundled_release_is_one_the_connector_supports()
    {
        var version = CloudflaredVersion.Parse(Pin()["CLOUDFLARED_VERSION"]);
        Assert.NotNull(version);
        Assert.True(version.Value >= CloudflaredVersion.Minimum, $"packaging/cloudflared.pin bundles {version}, older than the connector's minimum {CloudflaredVersion.Minimum}");
        // The optional flags too: the package should get the full command line.
        Assert.True(version.Value >= CloudflaredVersion.NoPrechecks && version.Value >= CloudflaredVersion.JsonOutput);
    }

    [Fact]
    public void The_pin_names_its_download_and_the_release_page_its_hash_comes_from()
    {
        var pin = Pin();
        var version = pin["CLOUDFLARED_VERSION"];
        Assert.Equal($"https://github.com/cloudflare/cloudflared/releases/download/{version}/cloudflared-linux-amd64", pin["CLOUDFLARED_URL"]);
        Assert.Matches("^[0-9a-f]{64}$", pin["CLOUDFLARED_SHA256"]);
        var text = File.ReadAllText(Path.Combine(McpTunnelProcess.RepoRoot(), "packaging", "cloudflared.pin"));
        Assert.Contains($"https://github.com/cloudflare/cloudflared/releases/tag/{version}", text, StringComparison.Ordinal);
        Assert.Contains($"cloudflared-linux-amd64: {pin["CLOUDFLARED_SHA256"]}", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cloudflared version 2026.8.2 (built 2026-08-14-1310 UTC)", "2026.8.2")]
    [InlineData("cloudflared version 2024.12.2 (built 2024-12-19-1722 UTC)", "2024.12.2")]
    [InlineData("cloudflared version DEV (built unknown)", null)]
    [InlineData("something else", null)]
    public void The_version_is_read_from_cloudflareds_version_line(string output, string? expected)
    {
        Assert.Equal(expected, CloudflaredVersion.FromVersionOutput(output)?.ToString());
    }

    [Theory]
    [InlineData("2024.12.2", false)]
    [InlineData("2025.2.1", false)]
    [InlineData("2025.4.0", true)]
    [InlineData("2026.11.2", true)]
    public void The_minimum_is_the_first_release_with_token_file(string version, bool supported)
    {
        Assert.Equal(supported, CloudflaredVersion.Parse(version)!.Value.Supported);
    }

    [GeneratedRegex("^CLOUDFLARED_[A-Z0-9_]+=")]
    private static partial Regex Assignment();
}
