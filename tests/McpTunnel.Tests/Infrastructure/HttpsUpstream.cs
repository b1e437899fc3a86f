using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// An https upstream on loopback with a certificate from <see cref="UpstreamPki"/>. It records the SNI of every
/// handshake (null when the client sent none) and answers with what it saw: SNI, Host header, protocol.
/// </summary>
public sealed class HttpsUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HttpsUpstream(WebApplication app) => _app = app;

    public int Port { get; private set; }

    /// <summary>The server name of each handshake, in order ("" when none was sent).</summary>
    public ConcurrentQueue<string> ServerNames { get; } = new();

    public static async Task<HttpsUpstream> StartAsync(X509Certificate2 certificate)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        HttpsUpstream? upstream = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                OnConnection = context =>
                {
                    var name = context.ClientHelloInfo.ServerName ?? "";
                    upstream!.ServerNames.Enqueue(name);
                    context.Connection.Items["sni"] = name;
                    return ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = certificate,
                        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
                    });
                },
            });
        }));
        var app = builder.Build();
        upstream = new HttpsUpstream(app);
        app.Run(async context =>
        {
            var items = context.Features.Get<IConnectionItemsFeature>()!.Items;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["sni"] = items.TryGetValue("sni", out var sni) ? (string)sni! : "?",
                ["host"] = context.Request.Headers.Host.ToString(),
                ["protocol"] = context.Request.Protocol,
                ["path"] = context.Request.Path.Value ?? "",
            }));
        });
        await app.StartAsync();
        upstream.Port = LoopbackApp.Port(app);
        return upstream;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A CA (written as PEM for <c>upstream.tls.ca_file</c>) that issues upstream certificates for DNS names and IP addresses.</summary>
public sealed class UpstreamPki : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public UpstreamPki(string name = "upstream test CA")
    {
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
    }

    public X509Certificate2 Ca { get; }

    public string CaPem => Ca.ExportCertificatePem() + "\n";

    /// <summary>A server certificate with the given subject alternative names (an IP address becomes an IP SAN).</summary>
    public X509Certificate2 Issue(params string[] names)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            if (IPAddress.TryParse(name, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var issued = request.Create(Ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(7), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // A round trip through PKCS#12 gives a key Kestrel can use on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        Ca.Dispose();
        _caKey.Dispose();
    }
}
