namespace McpTunnel.SystemTests;

/// <summary>
/// The .rpm's scriptlets against a real systemd: installed with rpm (Debian's rpm 4.18, empty rpmdb, hence
/// --nodeps) into the Debian 12 systemd image, since no RPM-based root can be made here. What this cannot show:
/// dnf resolving Requires, SELinux labels, and RHEL's presets (Debian has none, so preset enables).
/// </summary>
[Collection(PackageTests.Name)]
public sealed class RpmInstallTests(PackageFixture packages)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task Install_start_upgrade_and_erase_under_systemd()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        await SystemdContainer.RunAsync(packages.Image, RunAsync);
    }

    private async Task RunAsync(SystemdContainer host)
    {
        var h = Provisioning.Helpers + "\n";
        await host.CopyAsync(packages.Rpm, "/root/mcp-tunnel.rpm");
        await host.CopyAsync(packages.NextRpm, "/root/mcp-tunnel-next.rpm");

        // %pre makes the user, %post the directory (tmpfiles) and the preset; nothing starts.
        await host.ShAsync("rpm -ivh --nodeps /root/mcp-tunnel.rpm");
        Assert.Equal("mcp-tunnel\n", await host.ShAsync("id -un mcp-tunnel"));
        Assert.Equal("mcp-tunnel:mcp-tunnel 700\nroot:mcp-tunnel 750\nroot:mcp-tunnel 640\n", await host.ShAsync("stat -c '%U:%G %a' /var/lib/mcp-tunnel /etc/mcp-tunnel /etc/mcp-tunnel/config.yaml"));
        Assert.Equal("enabled\n", await host.ShAsync("systemctl is-enabled mcp-tunnel"));
        Assert.Equal("inactive\n", (await host.ExecAsync("systemctl is-active mcp-tunnel")).Stdout);

        // Provisioned and started, it serves.
        await Provisioning.ProvisionAsync(host, Provisioning.NewToken());
        await host.ShAsync("systemctl start mcp-tunnel");
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "/readyz reports cloudflared connected");
        Assert.Contains("tools/list", await host.ShAsync("mcp-tunnel probe --route hello"), StringComparison.Ordinal);

        // Upgrade: %postun try-restart gives a new process; config and credentials are untouched.
        var pid = (await host.ShAsync(h + "main_pid")).Trim();
        var before = await host.ShAsync("sha256sum /etc/mcp-tunnel/config.yaml /var/lib/mcp-tunnel/*");
        await host.ShAsync("rpm -Uvh --nodeps /root/mcp-tunnel-next.rpm");
        Assert.Equal(packages.NextVersion + "\n", await host.ShAsync("rpm -q --qf '%{VERSION}\\n' mcp-tunnel"));
        Assert.Equal("active\n", await host.ShAsync("systemctl is-active mcp-tunnel"));
        Assert.NotEqual(pid, (await host.ShAsync(h + "main_pid")).Trim());
        Assert.Equal(before, await host.ShAsync("sha256sum /etc/mcp-tunnel/config.yaml /var/lib/mcp-tunnel/*"));

        // Erase: %preun stops and disables; credentials stay; the edited config is kept as .rpmsave.
        await host.ShAsync("rpm -e --nodeps mcp-tunnel");
        Assert.Equal("inactive\n", (await host.ExecAsync("systemctl is-active mcp-tunnel")).Stdout);
        Assert.Equal("0\n", (await host.ExecAsync("pgrep -c -u mcp-tunnel")).Stdout);
        await host.ShAsync("test ! -e /usr/bin/mcp-tunnel && test ! -e /usr/lib/systemd/system/mcp-tunnel.service");
        await host.ShAsync("test -f /var/lib/mcp-tunnel/tls.key && test -f /var/lib/mcp-tunnel/tunnel-token && test -f /etc/mcp-tunnel/config.yaml.rpmsave");
    }
}
