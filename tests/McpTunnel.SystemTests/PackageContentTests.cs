using System.Security.Cryptography;

namespace McpTunnel.SystemTests;

/// <summary>What is inside the packages, what the linters say, and what the build refuses.</summary>
[Collection(PackageTests.Name)]
public sealed class PackageContentTests(PackageFixture packages)
{
    private static string Sha256(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    [SkippableFact]
    public async Task The_deb_holds_every_file_with_its_mode_and_declares_its_dependencies()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var listing = (await Shell.RunAsync("dpkg-deb", ["-c", packages.Deb])).Stdout;
        foreach (var (mode, path) in new[]
        {
            ("-rwxr-xr-x", "./usr/bin/mcp-tunnel"),
            ("-rwxr-xr-x", "./usr/libexec/mcp-tunnel/cloudflared"),
            ("-rw-r--r--", "./lib/systemd/system/mcp-tunnel.service"),
            ("-rw-r--r--", "./lib/systemd/system/mcp-tunnel-renew.service"),
            ("-rw-r--r--", "./lib/systemd/system/mcp-tunnel-renew.timer"),
            ("-rw-r--r--", "./usr/lib/sysusers.d/mcp-tunnel.conf"),
            ("-rw-r--r--", "./usr/lib/tmpfiles.d/mcp-tunnel.conf"),
            ("-rw-r--r--", "./etc/mcp-tunnel/config.yaml"),
            ("-rw-r--r--", "./usr/share/man/man1/mcp-tunnel.1.gz"),
            ("-rw-r--r--", "./usr/share/doc/mcp-tunnel/copyright"),
            ("-rw-r--r--", "./usr/share/doc/mcp-tunnel/changelog.gz"),
            ("-rw-r--r--", "./usr/share/bash-completion/completions/mcp-tunnel"),
            ("-rw-r--r--", "./usr/share/zsh/vendor-completions/_mcp-tunnel"),
            ("-rw-r--r--", "./usr/share/mcp-tunnel/grafana/mcp-tunnel.json"),
        })
        {
            Assert.Contains(listing.Split('\n'), line => line.StartsWith(mode + " root/root", StringComparison.Ordinal) && line.EndsWith(" " + path, StringComparison.Ordinal));
        }

        Assert.DoesNotContain(".dbg", listing, StringComparison.Ordinal);
        var control = (await Shell.RunAsync("dpkg-deb", ["-I", packages.Deb])).Stdout;
        Assert.Contains("Depends: libc6 (>= 2.34), libssl3 | libssl1.1, ca-certificates, procps, systemd | systemd-standalone-sysusers | systemd-sysusers", control, StringComparison.Ordinal);
        Assert.Contains("THIS BUILD BUNDLES A TEST STAND-IN, NOT CLOUDFLARED", control, StringComparison.Ordinal);
        Assert.Equal("/etc/mcp-tunnel/config.yaml\n", (await Shell.BashAsync($"dpkg-deb --ctrl-tarfile '{packages.Deb}' | tar -xO ./conffiles")).Stdout);
    }

    [SkippableFact]
    public async Task Both_packages_bundle_the_given_cloudflared_byte_for_byte()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var expected = Sha256(Repo.StandIn);
        var fromDeb = await Shell.BashAsync($"dpkg-deb --fsys-tarfile '{packages.Deb}' | tar -xO ./usr/libexec/mcp-tunnel/cloudflared | sha256sum");
        var fromRpm = await Shell.BashAsync($"rpm2cpio '{packages.Rpm}' | cpio -i --quiet --to-stdout ./usr/libexec/mcp-tunnel/cloudflared | sha256sum");
        Assert.StartsWith(expected, fromDeb.Stdout, StringComparison.Ordinal);
        Assert.StartsWith(expected, fromRpm.Stdout, StringComparison.Ordinal);
        var fromDebBinary = await Shell.BashAsync($"dpkg-deb --fsys-tarfile '{packages.Deb}' | tar -xO ./usr/bin/mcp-tunnel | sha256sum");
        Assert.StartsWith(Sha256(Repo.Binary), fromDebBinary.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_shipped_completion_scripts_are_the_binarys_own()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        foreach (var (shell, inDeb, inRpm) in new[]
        {
            ("bash", "./usr/share/bash-completion/completions/mcp-tunnel", "./usr/share/bash-completion/completions/mcp-tunnel"),
            ("zsh", "./usr/share/zsh/vendor-completions/_mcp-tunnel", "./usr/share/zsh/site-functions/_mcp-tunnel"),
        })
        {
            var expected = (await Shell.RunAsync(Repo.Binary, ["completion", shell])).Stdout;
            Assert.Contains("mcp-tunnel", expected, StringComparison.Ordinal);
            Assert.Equal(expected, (await Shell.BashAsync($"dpkg-deb --fsys-tarfile '{packages.Deb}' | tar -xO {inDeb}")).Stdout);
            Assert.Equal(expected, (await Shell.BashAsync($"rpm2cpio '{packages.Rpm}' | cpio -i --quiet --to-stdout {inRpm}")).Stdout);
        }
    }

    [SkippableFact]
    public async Task Both_packages_ship_the_repositorys_grafana_dashboard()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var path = "./usr/share/mcp-tunnel/grafana/mcp-tunnel.json";
        var expected = File.ReadAllText(Path.Combine(Repo.Root, "packaging", "common", "grafana", "mcp-tunnel.json"));
        Assert.Contains("mcp_tunnel_requests_total", expected, StringComparison.Ordinal);
        Assert.Equal(expected, (await Shell.BashAsync($"dpkg-deb --fsys-tarfile '{packages.Deb}' | tar -xO {path}")).Stdout);
        Assert.Equal(expected, (await Shell.BashAsync($"rpm2cpio '{packages.Rpm}' | cpio -i --quiet --to-stdout {path}")).Stdout);
    }

    [SkippableFact]
    public async Task Lintian_reports_no_errors_or_warnings()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var lintian = await Shell.RunAsync("lintian", ["-EvIL", "+pedantic", "--tag-display-limit", "0", packages.Deb], timeout: TimeSpan.FromMinutes(3));
        var findings = lintian.Stdout.Split('\n').Where(line => line.StartsWith("E:", StringComparison.Ordinal) || line.StartsWith("W:", StringComparison.Ordinal)).ToList();
        Assert.True(findings.Count == 0, "lintian:\n" + lintian.Output);
        Assert.Contains("I: mcp-tunnel:", lintian.Stdout, StringComparison.Ordinal); // it did look at the package
    }

    [SkippableFact]
    public async Task Rpmlint_reports_no_errors_or_warnings_on_the_package_and_its_spec()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var rpmlint = await Shell.RunAsync("rpmlint", ["-r", Path.Combine(Repo.Packaging, "rpm", "rpmlintrc"), packages.Rpm, packages.RpmSpec], timeout: TimeSpan.FromMinutes(3));
        Assert.True(rpmlint.Output.Contains("1 packages and 1 specfiles checked; 0 errors, 0 warnings", StringComparison.Ordinal), "rpmlint:\n" + rpmlint.Output);
    }

    [SkippableFact]
    public async Task The_rpm_holds_its_files_owners_and_modes_and_the_systemd_scriptlets()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var listing = (await Shell.RunAsync("rpm", ["-qlvp", packages.Rpm])).Stdout;
        foreach (var (mode, owner, path) in new[]
        {
            ("-rwxr-xr-x", "root     root", "/usr/bin/mcp-tunnel"),
            ("-rwxr-xr-x", "root     root", "/usr/libexec/mcp-tunnel/cloudflared"),
            ("-rw-r--r--", "root     root", "/usr/lib/systemd/system/mcp-tunnel.service"),
            ("-rw-r--r--", "root     root", "/usr/lib/systemd/system/mcp-tunnel-renew.timer"),
            ("-rw-r--r--", "root     root", "/usr/lib/sysusers.d/mcp-tunnel.conf"),
            ("drwxr-x---", "root     mcp-tunn", "/etc/mcp-tunnel"),
            ("-rw-r-----", "root     mcp-tunn", "/etc/mcp-tunnel/config.yaml"),
            ("drwx------", "mcp-tunn mcp-tunn", "/var/lib/mcp-tunnel"),
            ("-rw-r--r--", "root     root", "/usr/share/bash-completion/completions/mcp-tunnel"),
            ("-rw-r--r--", "root     root", "/usr/share/zsh/site-functions/_mcp-tunnel"),
        })
        {
            Assert.Contains(listing.Split('\n'), line => line.StartsWith(mode, StringComparison.Ordinal) && line.Contains(owner, StringComparison.Ordinal) && line.EndsWith(" " + path, StringComparison.Ordinal));
        }

        Assert.DoesNotContain(".build-id", listing, StringComparison.Ordinal);
        var configFiles = (await Shell.RunAsync("rpm", ["-qcp", packages.Rpm])).Stdout;
        Assert.Equal("/etc/mcp-tunnel/config.yaml\n", configFiles);
        var scripts = (await Shell.RunAsync("rpm", ["-qp", "--scripts", packages.Rpm])).Stdout;
        Assert.Contains("useradd -r -g mcp-tunnel", scripts, StringComparison.Ordinal);
        Assert.Contains("systemctl --no-reload preset mcp-tunnel.service mcp-tunnel-renew.timer", scripts, StringComparison.Ordinal);
        Assert.Contains("systemctl --no-reload disable --now mcp-tunnel.service", scripts, StringComparison.Ordinal);
        Assert.Contains("systemctl try-restart mcp-tunnel.service", scripts, StringComparison.Ordinal);
        var requires = (await Shell.RunAsync("rpm", ["-qpR", packages.Rpm])).Stdout;
        Assert.Contains("(openssl-libs or libopenssl3)", requires, StringComparison.Ordinal);
        Assert.Contains("ca-certificates", requires, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_build_announces_the_stand_in_and_a_release_build_refuses_it()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        Assert.Contains("bundling the TEST STAND-IN", packages.BuildOutput, StringComparison.Ordinal);
        Assert.Contains($"~standin", Path.GetFileName(packages.Deb), StringComparison.Ordinal);
        var release = await Shell.RunAsync(Path.Combine(Repo.Packaging, "build.sh"), ["--release", "--stand-in", Repo.StandIn, "--out", Path.Combine(packages.Directory, "refused")]);
        Assert.NotEqual(0, release.ExitCode);
        Assert.Contains("--release refuses --stand-in", release.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(packages.Directory, "refused")) && Directory.EnumerateFiles(Path.Combine(packages.Directory, "refused")).Any());
    }

    [SkippableFact]
    public async Task A_cloudflared_that_does_not_match_the_pinned_checksum_fails_the_build()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        var wrong = Path.Combine(packages.Directory, "not-cloudflared");
        File.Copy(Repo.StandIn, wrong, overwrite: true);
        var build = await Shell.RunAsync(Path.Combine(Repo.Packaging, "build.sh"), ["--cloudflared", wrong, "--out", Path.Combine(packages.Directory, "mismatch")]);
        Assert.NotEqual(0, build.ExitCode);
        Assert.Contains("checksum mismatch", build.Stderr, StringComparison.Ordinal);
        var pin = File.ReadAllText(Path.Combine(Repo.Packaging, "cloudflared.pin"));
        Assert.Matches("CLOUDFLARED_SHA256=[0-9a-f]{64}\n", pin);
        Assert.Contains(pin.Split("CLOUDFLARED_SHA256=")[1][..64], build.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(packages.Directory, "mismatch")) && Directory.EnumerateFiles(Path.Combine(packages.Directory, "mismatch")).Any());
    }
}
