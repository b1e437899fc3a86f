using McpTunnel.Configuration;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>The smallest valid configuration, for tests of one section: parse it with that section appended.</summary>
public static class MinimalConfig
{
    public const string Yaml = """
        listen_addr: 127.0.0.1:8080
        tunnel_domain: abcd1234.tunnel.test
        tls: { cert_file: a.crt, key_file: a.key }
        routes: { echo: "http://10.0.0.5:9000" }

        """;

    /// <summary>Parses <see cref="Yaml"/> followed by <paramref name="yaml"/> as <c>config.yaml</c>.</summary>
    public static ConfigLoadResult Parse(string yaml) => ConfigLoader.Parse(Yaml + yaml, "config.yaml");
}
