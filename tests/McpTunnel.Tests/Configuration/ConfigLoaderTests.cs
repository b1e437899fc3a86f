using McpTunnel.Configuration;

namespace McpTunnel.Tests.Configuration;

public sealed class ConfigLoaderTests
{
    private const string DocsExample = """
        listen_addr: ":8080"
        log_level: info
        shutdown_timeout: 30s
        tunnel_domain: abcd1234.tunnel.anthropic.com
        tls:
          cert_file: /data/tls.crt
          key_file: /data/tls.key
        routes:
          echo: http://hello-mcp:9000
        upstream:            # optional
          allowed_ips:
            - 10.0.0.0/8
        """;

    private static ConfigLoadResult Parse(string yaml, string? tunnelDomain = null) => ConfigLoader.Parse(yaml, "config.yaml", tunnelDomain);

    private static string Errors(ConfigLoadResult result) => string.Join("\n", result.Errors);

    [Fact]
    public void The_documented_minimal_config_loads_with_its_values_and_defaults()
    {
        var result = Parse(DocsExample);
        Assert.True(result.Succeeded, Errors(result));
        var config = result.Config!;
        Assert.Equal(new ListenAddress("", 8080), config.ListenAddr);
        Assert.True(config.ListenAddr.IsAnyInterface);
        Assert.False(config.ListenAddr.IsLoopbackOnly);
        Assert.Equal(LogLevelSetting.Info, config.LogLevel);
        Assert.Equal(TimeSpan.FromSeconds(30), config.ShutdownTimeout);
        Assert.Equal("abcd1234.tunnel.anthropic.com", config.TunnelDomain);
        Assert.Equal(new TlsConfig("/data/tls.crt", "/data/tls.key"), config.Tls);
        Assert.Equal(new UpstreamTarget("http", "hello-mcp", 9000), config.Routes["echo"]);
        Assert.Equal([Ipv4Cidr.Parse("10.0.0.0/8")], config.Upstream.AllowedIps);
        Assert.True(config.Upstream.AllowedIpsConfigured);
        Assert.Equal(TimeSpan.FromSeconds(10), config.Appliance.UpstreamConnectTimeout);
        Assert.Empty(result.Problems);
    }

    [Fact]
    public void Defaults_apply_when_optional_fields_are_absent()
    {
        var result = Parse("""
            listen_addr: 127.0.0.1:8080
            tls: { cert_file: a.crt, key_file: a.key }
            routes: { "echo.example.com": "https://echo.internal:8443" }
            upstream: { tls: { include_system_cas: true } }
            """);
        Assert.True(result.Succeeded, Errors(result));
        Assert.Equal(LogLevelSetting.Info, result.Config!.LogLevel);
        Assert.Equal(TimeSpan.FromSeconds(30), result.Config.ShutdownTimeout);
        Assert.Equal(Ipv4Cidr.Rfc1918, result.Config.Upstream.AllowedIps);
        Assert.False(result.Config.Upstream.AllowedIpsConfigured);
        Assert.True(result.Config.ListenAddr.IsLoopbackOnly);
    }

    [Fact]
    public void Routes_written_as_a_list_fail_with_the_proxys_message_and_position()
    {
        var result = Parse("""
            listen_addr: ":8080"
            tls: { cert_file: a.crt, key_file: a.key }
            routes:
              - echo: http://10.0.0.5:9000
            """);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Contains("cannot unmarshal !!seq into map[string]string", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, error.Line);
        Assert.StartsWith("config.yaml:4:", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://10.0.0.5:9000/mcp", "path")]
    [InlineData("http://10.0.0.5:9000/", "path")]
    [InlineData("http://10.0.0.5", "port is missing")]
    [InlineData("http://10.0.0.5:9000?x=1", "query")]
    [InlineData("http://user:pw@10.0.0.5:9000", "user information")]
    [InlineData("ftp://10.0.0.5:21", "scheme")]
    [InlineData("10.0.0.5:9000", "no scheme")]
    [InlineData("http://10.0.0.5:99999", "port")]
    [InlineData("http://:9000", "host is empty")]
    public void An_upstream_that_is_not_exactly_scheme_host_port_is_rejected(string upstream, string reason)
    {
        var result = Parse($"""
            listen_addr: ":8080"
            tls: {"{"} cert_file: a.crt, key_file: a.key {"}"}
            routes:
              echo: "{upstream}"
            """);
        var error = Assert.Single(result.Errors);
        Assert.Contains("invalid upstream (must be scheme://host:port)", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Equal("routes.echo", error.Field);
    }

    [Fact]
    public void Every_problem_is_reported_at_once_with_its_line()
    {
        var result = Parse("""
            listen_addr: "8080"
            log_level: verbose
            shutdown_timeout: 30
            tls:
              cert_file: a.crt
            routes:
              echo: http://10.0.0.5/mcp
              web: https://10.0.0.6:443
            upstream:
              allowed_ips: [10.0.0.0/33, "fe80::/10", 300.1.1.1]
              disable_ip_validation: true
            appliance:
              upstream_conect_timeout: 5s
            """);
        Assert.False(result.Succeeded);
        var errors = result.Errors.ToList();
        Assert.Contains(errors, e => e.Field == "listen_addr" && e.Line == 1 && e.Message.Contains("missing port", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "log_level" && e.Line == 2);
        Assert.Contains(errors, e => e.Field == "shutdown_timeout" && e.Line == 3 && e.Message.Contains("30s", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "tls.key_file");
        Assert.Contains(errors, e => e.Field == "routes.echo" && e.Line == 7);
        Assert.Contains(errors, e => e.Field == "routes.web" && e.Message.Contains("no trust anchor", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.Contains("prefix length", StringComparison.Ordinal) && e.Line == 10);
        Assert.Contains(errors, e => e.Message.Contains("not IPv4", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.Contains("300.1.1.1", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.Contains("mutually exclusive", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "appliance.upstream_conect_timeout" && e.Message.Contains("did you mean appliance.upstream_connect_timeout", StringComparison.Ordinal));
        Assert.True(errors.Count >= 11, string.Join("\n", errors));
    }

    [Fact]
    public void Unknown_proxy_fields_are_warnings_with_a_suggestion_because_the_proxy_ignores_them()
    {
        var result = Parse(DocsExample + "\nlisten_adr: \":9090\"\n");
        Assert.True(result.Succeeded);
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("did you mean listen_addr", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_tunnel_domain_flag_overrides_the_file()
    {
        var result = Parse(DocsExample, tunnelDomain: "ZZZZ.tunnel.anthropic.com.");
        Assert.Equal("zzzz.tunnel.anthropic.com", result.Config!.TunnelDomain);
    }

    [Theory]
    [InlineData(null, null, "config.yaml:4:16: tunnel_domain: \"https://x.example\" is not a bare domain")]
    [InlineData("https://x.example", null, "config.yaml: -tunnel-domain: \"https://x.example\" is not a bare domain")]
    [InlineData("https://x.example", "/var/lib/mcp-tunnel/tunnel-domain", "/var/lib/mcp-tunnel/tunnel-domain: \"https://x.example\" is not a bare domain")]
    public void A_bad_tunnel_domain_is_reported_under_the_name_of_where_it_came_from(string? overrideValue, string? overrideFile, string expected)
    {
        var yaml = DocsExample.Replace("tunnel_domain: abcd1234.tunnel.anthropic.com", "tunnel_domain: https://x.example", StringComparison.Ordinal);
        var result = ConfigLoader.Parse(yaml, "config.yaml", overrideValue, tunnelDomainFile: overrideFile);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith(expected, error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("debug", LogLevelSetting.Debug)]
    [InlineData("info", LogLevelSetting.Info)]
    [InlineData("warn", LogLevelSetting.Warn)]
    [InlineData("Warning", LogLevelSetting.Warn)]
    [InlineData(" ERROR ", LogLevelSetting.Error)]
    public void Log_level_words_are_read_into_the_setting_once(string word, LogLevelSetting expected)
    {
        var result = Parse(DocsExample.Replace("log_level: info", $"log_level: \"{word}\"", StringComparison.Ordinal));
        Assert.True(result.Succeeded, Errors(result));
        Assert.Equal(expected, result.Config!.LogLevel);
    }

    [Fact]
    public void A_bare_route_key_without_tunnel_domain_is_a_warning()
    {
        var result = Parse("""
            listen_addr: ":8080"
            tls: { cert_file: a.crt, key_file: a.key }
            routes: { echo: http://10.0.0.5:9000 }
            """);
        Assert.True(result.Succeeded);
        Assert.Contains(result.Warnings, w => w.Message.Contains("set tunnel_domain", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment")]
    public void An_empty_file_says_what_is_needed(string yaml)
    {
        var error = Assert.Single(Parse(yaml).Errors);
        Assert.Contains("listen_addr, tls and routes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_yaml_syntax_error_reports_its_position()
    {
        var error = Assert.Single(Parse("listen_addr: \":8080\"\nroutes: [unclosed\n").Errors);
        Assert.Contains("YAML syntax error", error.Message, StringComparison.Ordinal);
        Assert.True(error.Line > 0);
    }

    [Fact]
    public void Duplicate_route_keys_differing_in_case_are_rejected()
    {
        var result = Parse("""
            listen_addr: ":8080"
            tls: { cert_file: a.crt, key_file: a.key }
            tunnel_domain: t.example
            routes:
              Echo: http://10.0.0.5:9000
              echo: http://10.0.0.6:9000
            """);
        Assert.Contains(result.Errors, e => e.Message.Contains("duplicate route", StringComparison.Ordinal));
    }

    [Fact]
    public void Appliance_settings_are_read_and_validated()
    {
        var result = Parse(DocsExample + """

            appliance:
              upstream_connect_timeout: 2s
              tls_handshake_timeout: 3s
              cert_poll_interval: 1m
              websocket_keepalive: 0s
              upstream_idle_timeout: 1h
              max_request_headers_bytes: 32768
              websocket_paths: ["/", "/tunnel"]
            """);
        Assert.True(result.Succeeded, Errors(result));
        var appliance = result.Config!.Appliance;
        Assert.Equal(TimeSpan.FromSeconds(2), appliance.UpstreamConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), appliance.TlsHandshakeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(1), appliance.CertPollInterval);
        Assert.Equal(TimeSpan.Zero, appliance.WebSocketKeepAlive);
        Assert.Equal(TimeSpan.FromHours(1), appliance.UpstreamIdleTimeout);
        Assert.Equal(32768, appliance.MaxRequestHeadersBytes);
        Assert.Equal(["/", "/tunnel"], appliance.WebSocketPaths);
    }

    [Fact]
    public void Missing_certificate_files_are_reported_when_files_are_checked()
    {
        using var directory = new Infrastructure.TempDirectory();
        var path = directory.Write("config.yaml", DocsExample.Replace("/data/", "", StringComparison.Ordinal));
        var result = ConfigLoader.LoadFile(path);
        Assert.False(result.Succeeded);
        Assert.Contains(result.Errors, e => e.Field == "tls.cert_file" && e.Message.Contains($"open {directory.File("tls.crt")}: no such file or directory", StringComparison.Ordinal));
    }

    [Fact]
    public void Relative_file_paths_resolve_against_the_config_directory()
    {
        using var directory = new Infrastructure.TempDirectory();
        directory.Write("tls.crt", "x");
        directory.Write("tls.key", "x");
        var path = directory.Write("config.yaml", DocsExample.Replace("/data/", "", StringComparison.Ordinal));
        var result = ConfigLoader.LoadFile(path);
        Assert.True(result.Succeeded, Errors(result));
        Assert.Equal(directory.File("tls.crt"), result.Config!.Tls.CertFile);
    }

    [Fact]
    public void A_missing_config_file_is_one_error_that_says_so_and_how_to_name_another()
    {
        var result = ConfigLoader.LoadFile("/nonexistent/config.yaml");
        var error = Assert.Single(result.Errors);
        Assert.Equal("/nonexistent/config.yaml: no such configuration file; pass --config FILE (without it /etc/mcp-tunnel/config.yaml, which the package installs, is read, else the proxy's /etc/mcp-gateway/config.yaml)", error.ToString());
        Assert.DoesNotContain("Could not find", error.Message, StringComparison.Ordinal);

        var directory = Assert.Single(ConfigLoader.LoadFile(Path.GetTempPath()).Errors);
        Assert.Contains("is a directory; pass --config with the configuration file itself", directory.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_routes_mapping_is_warned_about_like_a_missing_one()
    {
        foreach (var routes in new[] { "routes: {}", "routes:" })
        {
            var result = ConfigLoader.Parse($"listen_addr: \"127.0.0.1:8080\"\ntls: {{ cert_file: a, key_file: b }}\n{routes}\n", "c.yaml");
            Assert.True(result.Succeeded);
            Assert.Contains(result.Warnings, w => w.Message.Contains("no routes are configured; every request will get 502 No route configured for host", StringComparison.Ordinal));
        }
    }
}
