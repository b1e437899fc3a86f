using System.Collections.Concurrent;
using System.Net;
using McpTunnel.Credentials;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>Hot reload of tls.cert_file/tls.key_file: new connections get the new pair, open ones keep working.</summary>
public sealed class CertificateReloadTests : IAsyncLifetime
{
    private EchoUpstream _upstream = null!;
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await EchoUpstream.StartAsync();
        _gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{_upstream.Port}", "upstream:\n  allowed_ips: [127.0.0.1/32]");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    private Uri Echo(string path) => new($"https://{GatewayHarness.Host("echo")}{path}");

    private void Replace(IssuedCertificate pair)
    {
        // Like setup's atomic writes: each file is replaced by a rename.
        foreach (var (name, content) in new[] { ("tls.crt", pair.CertificatePem), ("tls.key", pair.PrivateKeyPem) })
        {
            var temp = _gateway.Directory.Write(name + ".tmp", content);
            File.Move(temp, _gateway.Directory.File(name), overwrite: true);
        }
    }

    private void Poll() => _gateway.Time.Advance(TimeSpan.FromSeconds(10));

    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP256)]
    [InlineData(KeyAlgorithm.Rsa2048)]
    public async Task A_renewed_pair_is_served_to_new_connections_while_open_ones_keep_working(KeyAlgorithm newKey)
    {
        var seen = new ConcurrentQueue<string>();
        using var open = _gateway.CreateClient(onCertificate: c => seen.Enqueue(c.Thumbprint));
        using (var first = await open.GetAsync(Echo("/before")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        var renewed = _gateway.Pki.NewServerCertificate(newKey);
        Replace(renewed);
        Poll();
        Assert.Equal(1, _gateway.Server.Certificates.ReloadCount);
        Assert.Contains(_gateway.Logs.Messages, m => m.StartsWith("certificate reloaded", StringComparison.Ordinal));

        // The open connection (old certificate) still serves requests.
        using (var again = await open.GetAsync(Echo("/still-open")))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }

        Assert.Equal([TestPki.Thumbprint(_gateway.Pki.Server)], seen.Distinct());

        // A new connection gets the renewed certificate.
        var fresh = new ConcurrentQueue<string>();
        using var client = _gateway.CreateClient(onCertificate: c => fresh.Enqueue(c.Thumbprint));
        using var response = await client.GetAsync(Echo("/after"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(TestPki.Thumbprint(renewed), Assert.Single(fresh));
    }

    [Fact]
    public async Task A_garbage_certificate_keeps_the_old_pair_and_is_reported_as_an_error()
    {
        var original = _gateway.Server.Certificates.Current.Fingerprint;
        File.WriteAllText(_gateway.Directory.File("tls.crt"), "this is not a certificate");
        Poll();
        Assert.Contains(_gateway.Logs.Messages, m => m.StartsWith("certificate files changed but cannot be loaded yet", StringComparison.Ordinal));
        Poll();
        var error = Assert.Single(_gateway.Logs.Lines, l => l.Message.StartsWith("certificate reload failed", StringComparison.Ordinal));
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Error, error.Level);
        Assert.Contains("no PEM certificate found", error.Message, StringComparison.Ordinal);
        Poll(); // reported once, not every poll
        Assert.Single(_gateway.Logs.Lines, l => l.Message.StartsWith("certificate reload failed", StringComparison.Ordinal));

        Assert.Equal(original, _gateway.Server.Certificates.Current.Fingerprint);
        using var client = _gateway.CreateClient();
        using var response = await client.GetAsync(Echo("/ok"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_key_that_does_not_match_keeps_the_old_pair_and_a_complete_pair_then_loads()
    {
        var original = _gateway.Server.Certificates.Current.Fingerprint;
        var renewed = _gateway.Pki.NewServerCertificate();

        // A writer that has replaced the certificate but not yet the key.
        File.WriteAllText(_gateway.Directory.File("tls.crt"), renewed.CertificatePem);
        Poll();
        Poll();
        Assert.Contains(_gateway.Logs.Messages, m => m.Contains("does not belong to the certificate", StringComparison.Ordinal));
        Assert.Equal(original, _gateway.Server.Certificates.Current.Fingerprint);

        File.WriteAllText(_gateway.Directory.File("tls.key"), renewed.PrivateKeyPem);
        Poll();
        Assert.Equal(TestPki.Thumbprint(renewed), _gateway.Server.Certificates.Current.Certificate.Thumbprint);
        using var client = _gateway.CreateClient();
        using var response = await client.GetAsync(Echo("/ok"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void An_unchanged_pair_is_not_reloaded()
    {
        Poll();
        Poll();
        Assert.Equal(0, _gateway.Server.Certificates.ReloadCount);
        File.SetLastWriteTimeUtc(_gateway.Directory.File("tls.crt"), DateTime.UtcNow.AddMinutes(1));
        Poll();
        Assert.Equal(0, _gateway.Server.Certificates.ReloadCount);
    }
}
