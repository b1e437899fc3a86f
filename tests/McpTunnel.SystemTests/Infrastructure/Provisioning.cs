namespace McpTunnel.SystemTests.Infrastructure;

/// <summary>The steps an operator follows on a fresh host (docs/operations.md, "Install from a package"), as scripts.</summary>
public static class Provisioning
{
    public const string Domain = "abcd1234.tunnel.test";

    /// <summary>A well-formed connector token (base64 JSON with a, t, s) for the stand-in.</summary>
    public static string NewToken() => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(
        $$"""{"a":"acct","t":"{{Guid.NewGuid()}}","s":"{{Convert.ToBase64String(Guid.NewGuid().ToByteArray())}}"}"""));

    /// <summary>bash helpers: an HTTP GET over /dev/tcp (the image has no curl), and the service's main PID.</summary>
    public const string Helpers = """
        http_get() { exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3 && cat <&3; exec 3>&-; }
        main_pid() { systemctl show -p MainPID --value mcp-tunnel; }
        child_pid() { pgrep -u mcp-tunnel -f '^/usr/libexec/mcp-tunnel/cloudflared' | head -1; }
        """;

    /// <summary>The config an operator writes: one route to the sample MCP server on 127.0.0.1:9000.</summary>
    public static string Config(string extraRoute = "") => $"""
        listen_addr: "127.0.0.1:8080"
        log_level: info
        shutdown_timeout: 30s
        tls:
          cert_file: /var/lib/mcp-tunnel/tls.crt
          key_file: /var/lib/mcp-tunnel/tls.key
        routes:
          hello: http://127.0.0.1:9000
          {extraRoute}
        upstream:
          allowed_ips: [127.0.0.0/8]
        appliance:
          health_addr: "127.0.0.1:9090"
        """;

    /// <summary>
    /// Offline credentials with the cert commands, the token with token set (both as the service user, as the docs
    /// say), the config, and a sample MCP server as the upstream.
    /// </summary>
    public static async Task ProvisionAsync(SystemdContainer host, string token)
    {
        await host.CopyTextAsync(token + "\n", "/root/token.txt");
        await host.CopyTextAsync(Config(), "/root/config.yaml");
        await host.ShAsync($"""
            # From the administrator's home (0700), as people do.
            cd /root
            sudo -u mcp-tunnel mcp-tunnel cert init --domain {Domain}
            sudo -u mcp-tunnel mcp-tunnel token set < /root/token.txt
            # Replace the content, keep the package's owner and mode.
            cat /root/config.yaml > /etc/mcp-tunnel/config.yaml
            mcp-tunnel config validate
            systemd-run --unit sample-mcp -p DynamicUser=yes /usr/bin/mcp-tunnel demo --upstream-only 127.0.0.1:9000
            """);
        await host.WaitUntilAsync("exec 3<>/dev/tcp/127.0.0.1/9000", TimeSpan.FromSeconds(30), "the sample MCP server listens");
    }
}
