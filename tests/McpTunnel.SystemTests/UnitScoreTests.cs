using System.Globalization;
using System.Text.RegularExpressions;

namespace McpTunnel.SystemTests;

/// <summary>The units' exposure scores, offline, as `systemd-analyze security --offline=yes` computes them.</summary>
public sealed partial class UnitScoreTests
{
    private static async Task<double> ScoreAsync(string unit)
    {
        var result = await Shell.RunAsync("systemd-analyze", ["security", "--offline=yes", Path.Combine(Repo.Packaging, "systemd", unit)]);
        var match = ScorePattern().Match(result.Stdout);
        Assert.True(match.Success, $"no score in systemd-analyze output (exit {result.ExitCode}):\n{result.Output}");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [SkippableFact]
    public async Task The_service_scores_at_most_1_1()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        Assert.InRange(await ScoreAsync("mcp-tunnel.service"), 0.0, 1.1);
    }

    [SkippableFact]
    public async Task The_renewal_service_has_no_network_and_scores_lower_still()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        Assert.InRange(await ScoreAsync("mcp-tunnel-renew.service"), 0.0, 0.5);
    }

    [GeneratedRegex(@"Overall exposure level for \S+: ([0-9]+\.[0-9])")]
    private static partial Regex ScorePattern();
}
