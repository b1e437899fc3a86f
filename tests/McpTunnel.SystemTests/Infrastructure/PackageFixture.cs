using System.Text.RegularExpressions;

namespace McpTunnel.SystemTests.Infrastructure;

/// <summary>
/// Builds the packages once for all system tests, with packaging/build.sh exactly as documented: the published
/// AOT binary and the cloudflared stand-in (so every package here is a "~standin" build). Two versions, for the
/// upgrade tests: the binary's own, and a later one (the same binary repackaged under a higher version).
/// Also finds (or makes, via scripts/system-env.sh) the Debian 12 image with systemd.
/// </summary>
public sealed partial class PackageFixture : IAsyncLifetime
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("mcp-tunnel-packages-").FullName;

    public string Version { get; private set; } = "";

    public string NextVersion { get; private set; } = "";

    public string Deb => Path.Combine(Directory, $"mcp-tunnel_{Version}_amd64.deb");

    public string NextDeb => Path.Combine(Directory, "next", $"mcp-tunnel_{NextVersion}_amd64.deb");

    public string Rpm => Path.Combine(Directory, $"mcp-tunnel-{Version}-1.x86_64.rpm");

    public string NextRpm => Path.Combine(Directory, "next", $"mcp-tunnel-{NextVersion}-1.x86_64.rpm");

    public string RpmSpec => Path.Combine(Directory, $"mcp-tunnel-{Version}-1.spec");

    public string Image { get; private set; } = "";

    /// <summary>What build.sh printed for the first build (the stand-in banner is checked).</summary>
    public string BuildOutput { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (Repo.Disabled)
        {
            return;
        }

        foreach (var file in new[] { Repo.Binary, Repo.StandIn })
        {
            if (!File.Exists(file))
            {
                throw new InvalidOperationException($"{file} is missing: run the test command (scripts/test.sh), which publishes it first");
            }
        }

        var version = await Shell.RunAsync(Repo.Binary, ["version"]);
        var plain = VersionPattern().Match(version.Stdout).Groups[1].Value;
        Version = plain + "~standin";
        var parts = plain.Split('.');
        NextVersion = $"{parts[0]}.{parts[1]}.{int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 1}~standin";

        var build = await Shell.RunAsync(Path.Combine(Repo.Packaging, "build.sh"), ["--stand-in", Repo.StandIn, "--out", Directory]);
        Assert.True(build.ExitCode == 0, "packaging/build.sh failed:\n" + build.Output);
        BuildOutput = build.Output;
        var next = await Shell.RunAsync(Path.Combine(Repo.Packaging, "build.sh"), ["--stand-in", Repo.StandIn, "--out", Path.Combine(Directory, "next"), "--version", NextVersion.Replace("~standin", "", StringComparison.Ordinal)]);
        Assert.True(next.ExitCode == 0, "packaging/build.sh (next version) failed:\n" + next.Output);

        Image = Environment.GetEnvironmentVariable("MCP_TUNNEL_SYSTEM_IMAGE") ?? "";
        if (Image.Length == 0)
        {
            var environment = await Shell.RunAsync("bash", [Path.Combine(Repo.Root, "scripts", "system-env.sh")], timeout: TimeSpan.FromMinutes(15));
            Assert.True(environment.ExitCode == 0, "scripts/system-env.sh failed:\n" + environment.Output);
            Image = ImagePattern().Match(environment.Stdout).Groups[1].Value;
        }

        Assert.False(string.IsNullOrEmpty(Image), "no system-test image");

        // Testcontainers' reaper image cannot be pulled here, and its client speaks Docker API 1.44 by default,
        // newer than Debian 12's docker.io (20.10, API 1.41): ask the engine which version it speaks.
        Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", Environment.GetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED") ?? "true");
        if (Environment.GetEnvironmentVariable("DOCKER_API_VERSION") is null)
        {
            var api = await Shell.RunAsync("docker", ["version", "--format", "{{.Server.APIVersion}}"]);
            if (api.ExitCode == 0 && System.Version.TryParse(api.Stdout.Trim(), out var engineApi) && engineApi < new System.Version(1, 44))
            {
                Environment.SetEnvironmentVariable("DOCKER_API_VERSION", api.Stdout.Trim());
            }
        }
    }

    public Task DisposeAsync()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        return Task.CompletedTask;
    }

    [GeneratedRegex(@"mcp-tunnel ([0-9]+\.[0-9]+\.[0-9]+)")]
    private static partial Regex VersionPattern();

    [GeneratedRegex(@"image=(\S+)")]
    private static partial Regex ImagePattern();
}

[CollectionDefinition(Name)]
public sealed class PackageTests : ICollectionFixture<PackageFixture>
{
    public const string Name = "packages";
}
