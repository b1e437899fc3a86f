using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using McpTunnel.Credentials;
using McpTunnel.Gateway.Tls;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// Every inner handshake of one certificate uses one OpenSSL SSL_CTX (decision 0020), and that shared context offers
/// exactly the gateway's AEAD suites, as the per-handshake contexts built from <see cref="ModernCipherSuites.Policy"/> did:
/// a TLS 1.2 client that offers only CBC suites is refused, and each suite of the policy can be negotiated.
/// </summary>
public sealed class SharedTlsContextTests
{
    private static readonly TestPki Pki = new();

    [Fact]
    public async Task Handshakes_of_one_certificate_share_one_OpenSSL_context()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var certificate = Load(Pki.NewServerCertificate());

        var (server1, client1) = await ConnectAsync(certificate, ClientOptions(), timeout.Token);
        var (server2, client2) = await ConnectAsync(certificate, ClientOptions(), timeout.Token);
        await using (server1)
        await using (client1)
        await using (server2)
        await using (client2)
        {
            var first = SharedTlsContext.ContextOf(server1);
            Assert.NotEqual(0, first);
            Assert.Equal(first, SharedTlsContext.ContextOf(server2));
            Assert.NotNull(certificate.Shared);
            Assert.Equal(first, certificate.Shared.Context);
            Assert.True(certificate.Shared.IsHeld);
            Assert.True(SharedTlsContext.IsRestricted(first));
        }

        // IsRestricted compares with the OpenSSL names; the theory below negotiates every suite of the policy, so the
        // two lists agree when they are as long as each other.
        Assert.Equal(ModernCipherSuites.Policy.AllowedCipherSuites!.Count(), (ModernCipherSuites.OpenSslTls12 + ":" + ModernCipherSuites.OpenSslTls13).Split(':').Length);

        // A renewed certificate gets a context of its own, restricted the same way (the old one keeps its own).
        var renewed = Load(Pki.NewServerCertificate());
        var (server3, client3) = await ConnectAsync(renewed, ClientOptions(), timeout.Token);
        await using (server3)
        await using (client3)
        {
            var context = SharedTlsContext.ContextOf(server3);
            Assert.NotEqual(certificate.Shared.Context, context);
            Assert.Equal(renewed.Shared?.Context, context);
            Assert.True(SharedTlsContext.IsRestricted(context));
        }
    }

    [Theory]
    [InlineData(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256)]
    [InlineData(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384)]
    [InlineData(TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA)]
    public async Task A_TLS12_client_offering_only_CBC_suites_is_refused(TlsCipherSuite suite)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var certificate = Load(Pki.Server);
        var options = ClientOptions(SslProtocols.Tls12, suite);
        await Assert.ThrowsAnyAsync<AuthenticationException>(async () =>
        {
            var (server, client) = await ConnectAsync(certificate, options, timeout.Token);
            await server.DisposeAsync();
            await client.DisposeAsync();
        });
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)]
    [InlineData(KeyAlgorithm.Rsa2048, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)]
    [InlineData(KeyAlgorithm.Rsa2048, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)]
    [InlineData(KeyAlgorithm.Rsa2048, SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls13, TlsCipherSuite.TLS_AES_128_GCM_SHA256)]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls13, TlsCipherSuite.TLS_AES_256_GCM_SHA384)]
    [InlineData(KeyAlgorithm.EcdsaP256, SslProtocols.Tls13, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256)]
    public async Task Each_suite_of_the_policy_is_negotiated(KeyAlgorithm key, SslProtocols protocol, TlsCipherSuite suite)
    {
        Assert.Contains(suite, ModernCipherSuites.Policy.AllowedCipherSuites);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var certificate = Load(Pki.NewServerCertificate(key));
        var (server, client) = await ConnectAsync(certificate, ClientOptions(protocol, suite), timeout.Token);
        await using (server)
        await using (client)
        {
            Assert.Equal(suite, server.NegotiatedCipherSuite);
            Assert.NotNull(certificate.Shared);
            Assert.Equal(certificate.Shared.Context, SharedTlsContext.ContextOf(server));
        }
    }

    private static ServerCertificate Load(IssuedCertificate pair) => ServerCertificate.FromPem(pair.CertificatePem, pair.PrivateKeyPem, "tls.crt", "tls.key");

    private static SslClientAuthenticationOptions ClientOptions(SslProtocols protocols = SslProtocols.Tls12 | SslProtocols.Tls13, params TlsCipherSuite[] suites) => new()
    {
        TargetHost = "echo." + TestPki.Domain,
        EnabledSslProtocols = protocols,
        CipherSuitesPolicy = suites.Length == 0 ? null : new CipherSuitesPolicy(suites),
        AllowTlsResume = false,
        ApplicationProtocols = [SslApplicationProtocol.Http11],
        RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null,
    };

    private static async Task<(SslStream Server, SslStream Client)> ConnectAsync(ServerCertificate certificate, SslClientAuthenticationOptions clientOptions, CancellationToken cancellationToken)
    {
        var options = await certificate.GetOptionsAsync();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var tcpClient = new TcpClient();
        var connecting = tcpClient.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, cancellationToken);
        var accepted = await listener.AcceptTcpClientAsync(cancellationToken);
        await connecting;
        var server = new SslStream(accepted.GetStream(), leaveInnerStreamOpen: false);
        var client = new SslStream(tcpClient.GetStream(), leaveInnerStreamOpen: false);
        var serverSide = server.AuthenticateAsServerAsync(options, cancellationToken);
        var clientSide = client.AuthenticateAsClientAsync(clientOptions, cancellationToken);
        try
        {
            await clientSide;
            await serverSide;
            return (server, client);
        }
        catch
        {
            // Closing both ends ends whichever side is still waiting for the other.
            await client.DisposeAsync();
            await server.DisposeAsync();
            accepted.Dispose();
            tcpClient.Dispose();
            try
            {
                await serverSide;
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                // The failure of interest is the client's, rethrown below.
            }

            throw;
        }
    }
}
