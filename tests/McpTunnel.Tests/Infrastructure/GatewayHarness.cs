using McpTunnel.Configuration;
using McpTunnel.Gateway;
using McpTunnel.Gateway.Upstream;
using McpTunnel.Operations;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A real gateway on loopback, started from YAML through the real loader, with a test PKI on disk and a
/// capturing log. <see cref="CreateClient"/> gives an HttpClient whose connections are WebSocket + inner
/// TLS, exactly as the tunnel edge connects.
/// </summary>
public sealed class GatewayHarness : IAsyncDisposable
{
    private GatewayHarness(TempDirectory directory, TestPki pki, GatewayServer server, CapturingLoggerProvider logs, FakeTimeProvider time)
    {
        Directory = directory;
        Pki = pki;
        Server = server;
        Logs = logs;
        Time = time;
    }

    public TempDirectory Directory { get; }

    public TestPki Pki { get; }

    public GatewayServer Server { get; }

    public CapturingLoggerProvider Logs { get; }

    public FakeTimeProvider Time { get; }

    public Uri WebSocketUri => new UriBuilder(Server.ListenUris[0]) { Scheme = "ws" }.Uri;

    public Uri HttpUri => Server.ListenUris[0];

    /// <summary>Starts a gateway. <paramref name="routesYaml"/> is the body of <c>routes:</c>, one route per line.</summary>
    /// <param name="routesYaml">The body of <c>routes:</c>.</param>
    /// <param name="extraYaml">More top-level YAML (upstream:, appliance:).</param>
    /// <param name="pki">The CA and certificates to serve; a new one when null.</param>
    /// <param name="logLevel">The configuration's <c>log_level</c>.</param>
    /// <param name="upstreamResolver">Replaces DNS for upstream names (e.g. <c>up.internal</c> to loopback).</param>
    /// <param name="health">The handler of <c>appliance.health_addr</c>, if the YAML sets one.</param>
    /// <param name="certificateCheck">Judges the served certificate at start and on reload.</param>
    /// <param name="prepare">Runs on the directory before the configuration is loaded (extra files).</param>
    /// <param name="environment">The OTEL_* variables the gateway sees (none when null: nothing is exported).</param>
    public static async Task<GatewayHarness> StartAsync(string routesYaml, string extraYaml = "", TestPki? pki = null, string logLevel = "debug", UpstreamResolver? upstreamResolver = null,
        IHealthHandler? health = null, Func<GatewayConfig, Func<string, IEnumerable<string>>>? certificateCheck = null, Action<TempDirectory, TestPki>? prepare = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var directory = new TempDirectory();
        pki ??= new TestPki();
        pki.WriteTo(directory);
        prepare?.Invoke(directory, pki);
        var configPath = directory.Write("config.yaml", Yaml(routesYaml, extraYaml, logLevel));
        var result = ConfigLoader.LoadFile(configPath);
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        var logs = new CapturingLoggerProvider();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var server = GatewayServer.Create(result.Config!, logs, time, health, upstreamResolver, certificateCheck?.Invoke(result.Config!),
            // The OTEL_* variables the gateway sees: the test's own, never the runner's.
            name => environment?.GetValueOrDefault(name));
        await server.StartAsync();
        return new GatewayHarness(directory, pki, server, logs, time);
    }

    /// <summary>Rewrites config.yaml (same listener and certificate) and applies it as SIGHUP does.</summary>
    public void Reload(string routesYaml, string extraYaml = "", string logLevel = "debug")
    {
        var result = ConfigLoader.LoadFile(Directory.Write("config.yaml", Yaml(routesYaml, extraYaml, logLevel)));
        Assert.True(result.Succeeded, string.Join("\n", result.Problems));
        Server.Reload(result.Config!);
    }

    private static string Yaml(string routesYaml, string extraYaml, string logLevel) => $"""
        listen_addr: "127.0.0.1:0"
        log_level: {logLevel}
        shutdown_timeout: 5s
        tunnel_domain: {TestPki.Domain}
        tls:
          cert_file: tls.crt
          key_file: tls.key
        routes:
        {Indent(routesYaml)}
        {extraYaml}
        """;

    private static string Indent(string lines) =>
        string.Join("\n", lines.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "  " + l.Trim()));

    public EdgeConnectOptions EdgeOptions => new() { Gateway = WebSocketUri, TrustedCas = Pki.TrustedCas };

    public HttpClient CreateClient(bool http2 = false, Action<System.Security.Cryptography.X509Certificates.X509Certificate2>? onCertificate = null, bool verify = true)
    {
        var handler = EdgeClient.CreateHandler(EdgeOptions with { SkipVerification = !verify }, onCertificate);
        return new HttpClient(new VersionHandler(handler, http2)) { Timeout = TimeSpan.FromSeconds(60) };
    }

    public static string Host(string route) => $"{route}.{TestPki.Domain}";

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Dispose();
    }

    /// <summary>Pins every request to the protocol the connection negotiated (HttpClient defaults to 1.1).</summary>
    private sealed class VersionHandler(HttpMessageHandler inner, bool http2) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Version = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
