using McpTunnel.Configuration;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// Settings a reload cannot apply (docs/configuration.md, docs/operations.md): a reload that changes one logs
/// <c>configuration change needs a restart to apply field=...</c> for exactly that field and keeps the running value.
/// </summary>
public sealed class RestartFieldsTests
{
    private const string Base = """
        listen_addr: "127.0.0.1:0"
        log_level: info
        shutdown_timeout: 5s
        tunnel_domain: abcd1234.tunnel.test
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes:
          echo: http://10.0.0.5:9000

        """;

    public static TheoryData<string, string> Fields => new()
    {
        { "listen_addr", Base.Replace("listen_addr: \"127.0.0.1:0\"", "listen_addr: \"127.0.0.2:0\"", StringComparison.Ordinal) },
        { "tls", Base.Replace("cert_file: tls.crt", "cert_file: renewed.crt", StringComparison.Ordinal) },
        { "shutdown_timeout", Base.Replace("shutdown_timeout: 5s", "shutdown_timeout: 6s", StringComparison.Ordinal) },
        { "appliance.health_addr", Base + "appliance:\n  health_addr: \"127.0.0.1:9\"\n" },
        { "appliance.tls_handshake_timeout", Base + "appliance:\n  tls_handshake_timeout: 11s\n" },
        { "appliance.cert_poll_interval", Base + "appliance:\n  cert_poll_interval: 11s\n" },
        { "appliance.websocket_keepalive", Base + "appliance:\n  websocket_keepalive: 5s\n" },
        { "appliance.request_headers_timeout", Base + "appliance:\n  request_headers_timeout: 7s\n" },
        { "appliance.max_request_headers_bytes", Base + "appliance:\n  max_request_headers_bytes: 32768\n" },
        { "appliance.websocket_paths", Base + "appliance:\n  websocket_paths: [\"/tunnel\"]\n" },
        { "appliance.data_dir", Base + "appliance:\n  data_dir: /var/lib/elsewhere\n" },
        { "appliance.cloudflared", Base + "appliance:\n  cloudflared:\n    enabled: false\n" },
        { "appliance.max_connections", Base + "appliance:\n  max_connections: 100\n" },
        { "appliance.max_sessions", Base + "appliance:\n  max_sessions: 10\n" },
        { "appliance.upgrade_timeout", Base + "appliance:\n  upgrade_timeout: 11s\n" },
        { "appliance.first_request_timeout", Base + "appliance:\n  first_request_timeout: 21s\n" },
        // A field with no line of its own: the section is named.
        { "appliance", Base + "appliance:\n  offline: true\n" },
    };

    [Theory]
    [MemberData(nameof(Fields))]
    public async Task A_reload_that_changes_a_start_only_setting_names_it_and_keeps_the_running_value(string field, string changed)
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000", logLevel: "info");
        File.Copy(gateway.Directory.File("tls.crt"), gateway.Directory.File("renewed.crt"));
        var path = gateway.Directory.Write("config.yaml", Base);
        var running = Load(path);
        gateway.Server.Reload(running);
        Assert.DoesNotContain(gateway.Logs.Messages, m => m.StartsWith("configuration change needs a restart", StringComparison.Ordinal));

        gateway.Server.Reload(Load(gateway.Directory.Write("config.yaml", changed)));

        Assert.Equal([$"configuration change needs a restart to apply field={field}"],
            gateway.Logs.Messages.Where(m => m.StartsWith("configuration change needs a restart", StringComparison.Ordinal)));
        var now = gateway.Server.Config;
        Assert.Equal(running.ListenAddr, now.ListenAddr);
        Assert.Equal(running.Tls, now.Tls);
        Assert.Equal(running.ShutdownTimeout, now.ShutdownTimeout);
        Assert.Equal(running.Appliance with { WebSocketPaths = [] }, now.Appliance with { WebSocketPaths = [] });
        Assert.Equal(running.Appliance.WebSocketPaths, now.Appliance.WebSocketPaths);
    }

    private static GatewayConfig Load(string path)
    {
        var result = ConfigLoader.LoadFile(path);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        return result.Config!;
    }
}
