using System.Net;
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
}
