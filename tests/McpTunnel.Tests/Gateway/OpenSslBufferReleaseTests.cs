using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using McpTunnel.Gateway.Tls;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// The inner TLS connection's OpenSSL record buffers are released while idle (SSL_MODE_RELEASE_BUFFERS, decision
/// 0015): the mode is off by default in .NET, the private field the gateway reads the SSL handle from still exists in
/// this runtime (a runtime update that renames it fails here, not silently in production), and a connection in that
/// mode still carries data both ways, in records larger and smaller than the released buffers.
/// </summary>
public sealed class OpenSslBufferReleaseTests
{
    [Fact]
    public async Task Release_mode_is_set_on_the_server_connection_and_data_still_flows_both_ways()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=release.test", key, HashAlgorithmName.SHA256);
        using var ephemeral = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var certificate = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        var connecting = client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port, timeout.Token);
        using var accepted = await listener.AcceptTcpClientAsync(timeout.Token);
        await connecting;

        await using var server = new SslStream(accepted.GetStream());
        await using var tlsClient = new SslStream(client.GetStream());
        await Task.WhenAll(
            server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, timeout.Token),
            tlsClient.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "release.test",
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }, timeout.Token));

        Assert.False(OpenSslBufferRelease.IsEnabled(server));
        Assert.True(OpenSslBufferRelease.Enable(server));
        Assert.True(OpenSslBufferRelease.IsEnabled(server));

        // Several rounds, so buffers are released after one exchange and allocated again for the next.
        var random = new Random(12);
        foreach (var size in new[] { 1, 900, 16 * 1024, 100_000, 3 })
        {
            var up = new byte[size];
            var down = new byte[size];
            random.NextBytes(up);
            random.NextBytes(down);
            await tlsClient.WriteAsync(up, timeout.Token);
            Assert.Equal(up, await ReadExactly(server, size, timeout.Token));
            await server.WriteAsync(down, timeout.Token);
            Assert.Equal(down, await ReadExactly(tlsClient, size, timeout.Token));
        }

        Assert.True(OpenSslBufferRelease.IsEnabled(server));
    }

    private static async Task<byte[]> ReadExactly(Stream stream, int size, CancellationToken cancellationToken)
    {
        var buffer = new byte[size];
        await stream.ReadExactlyAsync(buffer, cancellationToken);
        return buffer;
    }
}
