using System.Net;
using System.Net.Sockets;
using McpTunnel.Configuration;
using McpTunnel.Gateway;
using McpTunnel.Operations;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// A certificate pair that loads but that the edge would refuse (here: the CA itself as the server certificate)
/// used to start silently. The gateway now runs doctor's requirement check on every certificate it loads, as the
/// service and the gateway verb wire it (<see cref="ServerCertificateAdvice"/>).
/// </summary>
public sealed class CertificateAdviceTests
{
    private const string Warning = "server certificate fails a tunnel requirement; the edge will refuse it: ";

    private static void UseCaAsServerCertificate(TempDirectory directory, TestPki pki)
    {
        foreach (var (name, content) in new[] { ("tls.crt", pki.Ca.CertificatePem), ("tls.key", pki.Ca.PrivateKeyPem) })
        {
            var temp = directory.Write(name + ".tmp", content);
            File.Move(temp, directory.File(name), overwrite: true);
        }
    }

    [Fact]
    public async Task A_ca_certificate_as_the_server_certificate_is_a_warning_at_start_and_on_reload()
    {
        await using var upstream = await EchoUpstream.StartAsync();
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.1/32]",
            certificateCheck: ServerCertificateAdvice.For);

        // A good pair (the test PKI's, as cert init makes it) passes every requirement: no warning.
        Assert.DoesNotContain(gateway.Logs.Messages, m => m.StartsWith(Warning, StringComparison.Ordinal));

        // Reload: the CA's own pair replaces the server's. It loads and is served, with a warning.
        UseCaAsServerCertificate(gateway.Directory, gateway.Pki);
        gateway.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, gateway.Server.Certificates.ReloadCount);
        Assert.Contains(Warning + "tls.crt: not a CA certificate (CA:TRUE); the server certificate must be a leaf", gateway.Logs.Messages);
        using var http = gateway.CreateClient(verify: false);
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/served"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Start: a gateway started on that pair says so at once.
        await using var started = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}", "",
            certificateCheck: ServerCertificateAdvice.For, prepare: UseCaAsServerCertificate);
        Assert.Contains(Warning + "tls.crt: not a CA certificate (CA:TRUE); the server certificate must be a leaf", started.Logs.Messages);
    }

    [Fact]
    public async Task The_check_of_the_pair_loaded_at_start_runs_once_the_listener_is_bound()
    {
        // The check builds an X509 chain, and the first chain of a process loads the whole system trust store (two
        // thirds of start-up's CPU, docs/benchmarks.md): it must not hold up binding, yet still report before
        // StartAsync returns, as it did.
        using var directory = new TempDirectory();
        var pki = new TestPki();
        pki.WriteTo(directory);
        UseCaAsServerCertificate(directory, pki);
        int port;
        using (var reserve = new TcpListener(IPAddress.Loopback, 0))
        {
            reserve.Start();
            port = ((IPEndPoint)reserve.LocalEndpoint).Port;
        }

        var loaded = ConfigLoader.LoadFile(directory.Write("config.yaml", $"""
            listen_addr: "127.0.0.1:{port}"
            tunnel_domain: {TestPki.Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes:
              echo: http://127.0.0.1:9
            """));
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var config = loaded.Config!;
        var listenerBound = new List<bool>();
        var advice = ServerCertificateAdvice.For(config);
        IEnumerable<string> Check(string pem)
        {
            using var probe = new TcpClient();
            try
            {
                probe.Connect(IPAddress.Loopback, port);
                listenerBound.Add(true);
            }
            catch (SocketException)
            {
                listenerBound.Add(false);
            }

            return advice(pem);
        }

        var logs = new CapturingLoggerProvider();
        await using var server = GatewayServer.Create(config, logs, certificateCheck: Check);
        Assert.Empty(listenerBound);
        await server.StartAsync();
        Assert.Equal([true], listenerBound);
        Assert.Contains(Warning + "tls.crt: not a CA certificate (CA:TRUE); the server certificate must be a leaf", logs.Messages);
    }
}
