namespace McpTunnel.SystemTests;

/// <summary>
/// The .deb on a clean Debian 12 with systemd as PID 1, start to purge, in the order an operator meets it.
/// One test, because each step starts from the state the previous one left (as on a real host).
/// </summary>
[Collection(PackageTests.Name)]
public sealed class DebLifecycleTests(PackageFixture packages)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task Install_provision_serve_reload_rotate_restart_crash_stop_upgrade_remove_purge()
    {
        Skip.If(Repo.Disabled, "MCP_TUNNEL_SYSTEM_TESTS=0");
        await SystemdContainer.RunAsync(packages.Image, RunAsync);
    }

    private async Task RunAsync(SystemdContainer host)
    {
        var h = Provisioning.Helpers + "\n";

        // 1. apt-get install ./the.deb: the user, the directories and their modes, the unit enabled but waiting.
        await host.CopyAsync(packages.Deb, "/root/" + Path.GetFileName(packages.Deb));
        await host.ShAsync($"cd /root && apt-get install -y ./{Path.GetFileName(packages.Deb)}");
        Assert.Equal("mcp-tunnel\n", await host.ShAsync("id -un mcp-tunnel"));
        Assert.Equal("mcp-tunnel:mcp-tunnel 700\n", await host.ShAsync("stat -c '%U:%G %a' /var/lib/mcp-tunnel"));
        Assert.Equal("root:mcp-tunnel 750\nroot:mcp-tunnel 640\n", await host.ShAsync("stat -c '%U:%G %a' /etc/mcp-tunnel /etc/mcp-tunnel/config.yaml"));
        Assert.Equal("/usr/sbin/nologin\n", await host.ShAsync("getent passwd mcp-tunnel | cut -d: -f7"));
        Assert.Equal("enabled\nenabled\n", await host.ShAsync("systemctl is-enabled mcp-tunnel mcp-tunnel-renew.timer"));
        Assert.Equal("inactive\n", (await host.ExecAsync("systemctl is-active mcp-tunnel")).Stdout);
        Assert.Equal("active\n", await host.ShAsync("systemctl is-active mcp-tunnel-renew.timer"));

        // Running the maintainer scripts again (a reinstall runs prerm, postinst once more) is harmless.
        await host.ShAsync($"cd /root && dpkg -i ./{Path.GetFileName(packages.Deb)}");
        Assert.Equal("enabled\nenabled\n", await host.ShAsync("systemctl is-enabled mcp-tunnel mcp-tunnel-renew.timer"));
        Assert.Equal("mcp-tunnel:mcp-tunnel 700\nroot:mcp-tunnel 750\n", await host.ShAsync("stat -c '%U:%G %a' /var/lib/mcp-tunnel /etc/mcp-tunnel"));
        Assert.Equal("1\n", await host.ShAsync("getent passwd | grep -c '^mcp-tunnel:'"));

        // 2. No token yet: starting is a clean skip (condition), not a failure or a restart loop.
        await host.ShAsync("systemctl start mcp-tunnel");
        Assert.Equal("ActiveState=inactive\nConditionResult=no\nNRestarts=0\n", await host.ShAsync("systemctl show -p ConditionResult -p ActiveState -p NRestarts mcp-tunnel | sort"));

        // 3. Root writing credentials into the service's directory is refused with the command to use.
        var asRoot = await host.ExecAsync($"mcp-tunnel cert init --domain {Provisioning.Domain}");
        Assert.NotEqual(0, asRoot.ExitCode);
        Assert.Contains("sudo -u mcp-tunnel mcp-tunnel", asRoot.Stderr, StringComparison.Ordinal);

        // 4. Provision as documented, start, and wait for READY (Type=notify: start returns after READY=1).
        var token = Provisioning.NewToken();
        await Provisioning.ProvisionAsync(host, token);
        await host.ShAsync("systemctl start mcp-tunnel");
        Assert.Equal("active\n", await host.ShAsync("systemctl is-active mcp-tunnel"));
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "/readyz reports cloudflared connected");
        var readyz = await host.ShAsync(h + "http_get 9090 /readyz");
        Assert.Contains("200 OK", readyz, StringComparison.Ordinal);
        Assert.Contains("certificate: ok", readyz, StringComparison.Ordinal);
        Assert.Contains("cloudflared", await host.ShAsync("systemctl show -p StatusText --value mcp-tunnel"), StringComparison.Ordinal);

        // The unit's stop budget and descriptor limit are in force, and the connection limits follow the latter
        // (read with getrlimit inside the sandbox).
        Assert.Equal("LimitNOFILE=16384\nTimeoutStopUSec=1min\n", await host.ShAsync("systemctl show -p TimeoutStopUSec -p LimitNOFILE mcp-tunnel | sort"));
        Assert.Contains("msg=\"connection limits\" max_connections=8064 max_sessions=4032 descriptor_limit=16384", await host.ShAsync("journalctl -u mcp-tunnel --no-pager -o cat"), StringComparison.Ordinal);

        // The credential reached the service through systemd, and cloudflared got it as a file.
        var child = (await host.ShAsync(h + "child_pid")).Trim();
        Assert.Contains("/run/credentials/mcp-tunnel.service/tunnel-token", await host.ShAsync($"tr '\\0' ' ' < /proc/{child}/cmdline"), StringComparison.Ordinal);

        // 5. End to end: the edge's path (WebSocket, inner TLS, MCP) through the route to the MCP server.
        var probe = await host.ShAsync("mcp-tunnel probe --route hello --call hello");
        Assert.Contains("tools/list", probe, StringComparison.Ordinal);
        Assert.Contains("Hello, ", probe, StringComparison.Ordinal);

        // The sandbox holds for the gateway and the cloudflared it started.
        foreach (var pid in new[] { (await host.ShAsync(h + "main_pid")).Trim(), child })
        {
            var status = await host.ShAsync($"grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/{pid}/status | tr -s '\\t ' ' '");
            Assert.Equal("CapEff: 0000000000000000\nCapBnd: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n", status);
        }

        Assert.Contains("Overall exposure level for mcp-tunnel.service: 1.1", await host.ShAsync("systemd-analyze security mcp-tunnel 2>&1 | tail -1"), StringComparison.Ordinal);

        // 6. systemctl reload: a new route, same process; a broken file fails the reload and changes nothing.
        var pid1 = (await host.ShAsync(h + "main_pid")).Trim();
        await host.CopyTextAsync(Provisioning.Config("again: http://127.0.0.1:9000"), "/root/config.yaml");
        await host.ShAsync("cat /root/config.yaml > /etc/mcp-tunnel/config.yaml && systemctl reload mcp-tunnel");
        await host.WaitUntilAsync("journalctl -u mcp-tunnel --no-pager | grep -q 'configuration reloaded.*routes=2'", Patience, "the reload is logged");
        Assert.Contains("tools/list", await host.ShAsync("mcp-tunnel probe --route again"), StringComparison.Ordinal);
        await host.ShAsync("cp /etc/mcp-tunnel/config.yaml /root/good.yaml && echo 'routes: [broken]' >> /etc/mcp-tunnel/config.yaml");
        var badReload = await host.ExecAsync("systemctl reload mcp-tunnel");
        Assert.NotEqual(0, badReload.ExitCode);
        Assert.Equal("active\n", await host.ShAsync("systemctl is-active mcp-tunnel"));
        await host.ShAsync("cat /root/good.yaml > /etc/mcp-tunnel/config.yaml");
        Assert.Equal(pid1, (await host.ShAsync(h + "main_pid")).Trim());

        // 7. Token rotation: the new token lands in the credential's source; cloudflared restarts with it, the gateway stays.
        var rotated = Provisioning.NewToken();
        await host.CopyTextAsync(rotated + "\n", "/root/token2.txt");
        await host.ShAsync("sudo -u mcp-tunnel mcp-tunnel token set < /root/token2.txt");
        await host.WaitUntilAsync(h + $"c=$(child_pid) && [ -n \"$c\" ] && [ \"$c\" != {child} ] && tr '\\0' ' ' < /proc/$c/cmdline | grep -q /var/lib/mcp-tunnel/tunnel-token", Patience, "cloudflared restarted with the rotated token file");
        Assert.Equal(pid1, (await host.ShAsync(h + "main_pid")).Trim());
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "connected again after the rotation");

        // 8. restart: a new process, ready again. It also picks up a drop-in with the standard OpenTelemetry
        // variables (operations.md, "Observe it"): export to a collector needs no new privilege under the sandbox.
        // The collector is a socket that records what it is sent (it never answers; the exporter gives up after 1 s).
        await host.ShAsync("""
            systemd-run --unit otlp-sink systemd-socket-activate --inetd -a -l 127.0.0.1:4318 sh -c 'cat >> /root/otlp-received'
            mkdir -p /etc/systemd/system/mcp-tunnel.service.d
            printf '[Service]\nEnvironment=OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_EXPORTER_OTLP_TIMEOUT=1000 OTEL_BSP_SCHEDULE_DELAY=200\n' > /etc/systemd/system/mcp-tunnel.service.d/otel.conf
            systemctl daemon-reload
            """);
        await host.WaitUntilAsync("exec 3<>/dev/tcp/127.0.0.1/4318", TimeSpan.FromSeconds(30), "the collector socket listens");
        await host.ShAsync("systemctl restart mcp-tunnel");
        var pid2 = (await host.ShAsync(h + "main_pid")).Trim();
        Assert.NotEqual(pid1, pid2);
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "ready after restart");
        Assert.Contains("Hello, ", await host.ShAsync("mcp-tunnel probe --route hello --call hello"), StringComparison.Ordinal);
        await host.WaitUntilAsync("grep -aq 'POST /v1/traces' /root/otlp-received && grep -aq 'tools/call hello' /root/otlp-received", Patience,
            "the span of the tool call reached the collector");
        var scrape = await host.ShAsync(h + "http_get 9090 /metrics");
        Assert.Contains("mcp_tunnel_requests_total{", scrape, StringComparison.Ordinal);
        Assert.Contains("route=\"hello\"", scrape, StringComparison.Ordinal);
        await host.ShAsync("rm -r /etc/systemd/system/mcp-tunnel.service.d && systemctl daemon-reload && systemctl stop otlp-sink");

        // Renewal under its own (network-less) sandbox: a no-op while more than 30 days remain; forced through a
        // drop-in, it writes a new pair that the running gateway loads by itself.
        await host.ShAsync("systemctl start mcp-tunnel-renew");
        Assert.Equal("Result=success\n", await host.ShAsync("systemctl show -p Result mcp-tunnel-renew"));
        Assert.Contains("nothing to do", await host.ShAsync("journalctl -u mcp-tunnel-renew --no-pager -o cat"), StringComparison.Ordinal);
        var oldCertificate = await host.ShAsync("sha256sum < /var/lib/mcp-tunnel/tls.crt");
        await host.ShAsync("""
            mkdir -p /etc/systemd/system/mcp-tunnel-renew.service.d
            printf '[Service]\nExecStart=\nExecStart=/usr/bin/mcp-tunnel setup renew-cert --output=dir:/var/lib/mcp-tunnel --renew-before=0\n' > /etc/systemd/system/mcp-tunnel-renew.service.d/force.conf
            systemctl daemon-reload
            systemctl start mcp-tunnel-renew
            rm -r /etc/systemd/system/mcp-tunnel-renew.service.d && systemctl daemon-reload
            """);
        Assert.NotEqual(oldCertificate, await host.ShAsync("sha256sum < /var/lib/mcp-tunnel/tls.crt"));
        Assert.Equal("mcp-tunnel:mcp-tunnel 600\n", await host.ShAsync("stat -c '%U:%G %a' /var/lib/mcp-tunnel/tls.key"));
        await host.WaitUntilAsync("journalctl -u mcp-tunnel --no-pager -o cat | grep -q 'certificate reloaded'", Patience, "the gateway loaded the renewed certificate");
        Assert.Contains("tools/list", await host.ShAsync("mcp-tunnel probe --route hello"), StringComparison.Ordinal);

        // 9. A crash (SIGKILL, none of our code runs): systemd ends cloudflared with the cgroup and restarts the service.
        var childBefore = (await host.ShAsync(h + "child_pid")).Trim();
        await host.ShAsync($"kill -9 {pid2}");
        await host.WaitUntilAsync("[ \"$(systemctl show -p NRestarts --value mcp-tunnel)\" = 1 ] && systemctl is-active -q mcp-tunnel", Patience, "restarted after the crash");
        Assert.False((await host.ExecAsync($"kill -0 {childBefore}")).ExitCode == 0, "the old cloudflared outlived the crashed service");
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "ready after the crash restart");
        Assert.Equal("1\n", await host.ShAsync("pgrep -c -u mcp-tunnel -f '^/usr/libexec/mcp-tunnel/cloudflared'"));

        // 10. stop: cloudflared first, the gateway drains, exit 0 within the grace period (no SIGKILL).
        var cursor = (await host.ShAsync("journalctl -u mcp-tunnel -n 1 --show-cursor -o cat | sed -n 's/^-- cursor: //p'")).Trim();
        await host.ShAsync("systemctl stop mcp-tunnel");
        Assert.Equal("ActiveState=inactive\nExecMainStatus=0\nResult=success\n", await host.ShAsync("systemctl show -p ActiveState -p ExecMainStatus -p Result mcp-tunnel | sort"));
        var stopLog = await host.ShAsync($"journalctl -u mcp-tunnel --no-pager -o cat --after-cursor='{cursor}'");
        Assert.Contains("cloudflared stopping", stopLog, StringComparison.Ordinal);
        Assert.Contains("gateway stopped", stopLog, StringComparison.Ordinal);
        Assert.DoesNotContain("SIGKILL", stopLog, StringComparison.Ordinal);
        Assert.Equal("0\n", (await host.ExecAsync("pgrep -c -u mcp-tunnel")).Stdout);

        // 11. Upgrade while running: new version, new process, config and data untouched.
        await host.ShAsync("systemctl start mcp-tunnel");
        var pid3 = (await host.ShAsync(h + "main_pid")).Trim();
        var before = await host.ShAsync("sha256sum /etc/mcp-tunnel/config.yaml /var/lib/mcp-tunnel/*");
        await host.CopyAsync(packages.NextDeb, "/root/" + Path.GetFileName(packages.NextDeb));
        await host.ShAsync($"cd /root && apt-get install -y ./{Path.GetFileName(packages.NextDeb)}");
        Assert.Equal(packages.NextVersion + "\n", await host.ShAsync("dpkg-query -W -f '${Version}\\n' mcp-tunnel"));
        Assert.Equal("active\n", await host.ShAsync("systemctl is-active mcp-tunnel"));
        Assert.NotEqual(pid3, (await host.ShAsync(h + "main_pid")).Trim());
        Assert.Equal(before, await host.ShAsync("sha256sum /etc/mcp-tunnel/config.yaml /var/lib/mcp-tunnel/*"));
        Assert.Equal("root:mcp-tunnel 750\nroot:mcp-tunnel 640\n", await host.ShAsync("stat -c '%U:%G %a' /etc/mcp-tunnel /etc/mcp-tunnel/config.yaml"));
        await host.WaitUntilAsync(h + "http_get 9090 /readyz | grep -q 'cloudflared: ok, connected'", Patience, "ready after the upgrade");

        // 12. Nothing the service or its commands wrote is readable by others, and the tokens were never logged.
        Assert.Equal("", await host.ShAsync("find /var/lib/mcp-tunnel /run/mcp-tunnel /etc/mcp-tunnel /run/credentials/mcp-tunnel.service -perm /o=rwx -printf '%p %m\\n' 2>/dev/null || true"));
        Assert.Equal("", await host.ShAsync("find /var/lib/mcp-tunnel -type f ! -perm 600 -printf '%p %m\\n'"));
        Assert.Equal("0\n", (await host.ExecAsync($"journalctl --no-pager | grep -c -e '{token}' -e '{rotated}'")).Stdout);

        // 13. remove: the service stops; configuration and credentials stay; the user stays.
        await host.ShAsync("apt-get remove -y mcp-tunnel");
        Assert.Equal("inactive\n", (await host.ExecAsync("systemctl is-active mcp-tunnel")).Stdout);
        Assert.Equal("0\n", (await host.ExecAsync("pgrep -c -u mcp-tunnel")).Stdout);
        await host.ShAsync("test -f /etc/mcp-tunnel/config.yaml && test -f /var/lib/mcp-tunnel/tls.key && test -f /var/lib/mcp-tunnel/tunnel-token && test ! -e /usr/bin/mcp-tunnel");
        Assert.Equal("rc\n", await host.ShAsync("dpkg-query -W -f '${db:Status-Abbrev}' mcp-tunnel | cut -c1-2"));

        // 14. purge: configuration and credentials go; the user stays (Debian practice); no override left behind.
        // The CA registered on the tunnel cannot be made again: it is kept aside, root's only, and purge says where.
        var caKey = await host.ShAsync("sha256sum < /var/lib/mcp-tunnel/ca.key");
        var purge = await host.ExecAsync("apt-get purge -y mcp-tunnel");
        Assert.True(purge.ExitCode == 0, purge.Stdout + purge.Stderr);
        await host.ShAsync("test ! -e /etc/mcp-tunnel && test ! -e /var/lib/mcp-tunnel");
        Assert.Equal("mcp-tunnel\n", await host.ShAsync("id -un mcp-tunnel"));
        Assert.Equal("", await host.ShAsync("dpkg-statoverride --list | grep mcp-tunnel || true"));
        var kept = (await host.ShAsync("ls -d /var/backups/mcp-tunnel-ca-*")).Trim();
        Assert.Contains($"purge kept the tunnel's CA (it may still be registered in the Console) in {kept}", purge.Stdout + purge.Stderr, StringComparison.Ordinal);
        Assert.Equal(caKey, await host.ShAsync($"sha256sum < {kept}/ca.key"));
        Assert.Equal("root:root 700\n", await host.ShAsync($"stat -c '%U:%G %a' {kept}"));
        Assert.Equal("ca.crt root:root 600\nca.key root:root 600\ntunnel-domain root:root 600\n", await host.ShAsync($"cd {kept} && stat -c '%n %U:%G %a' * | sort"));

        // Installed again, the package points at the kept CA; a purge with no CA keeps nothing more.
        var reinstall = await host.ExecAsync($"cd /root && apt-get install -y ./{Path.GetFileName(packages.NextDeb)}");
        Assert.Contains($"{kept} holds a CA kept by an earlier purge", reinstall.Stdout + reinstall.Stderr, StringComparison.Ordinal);
        await host.ShAsync("apt-get purge -y mcp-tunnel");
        Assert.Equal(kept + "\n", await host.ShAsync("ls -d /var/backups/mcp-tunnel-ca-*"));
    }
}
