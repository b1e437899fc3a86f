using System.Security.Cryptography.X509Certificates;
using McpTunnel.Credentials;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>A CA and server certificates for a test tunnel domain, written as the setup component names them.</summary>
public sealed class TestPki
{
    public const string Domain = "abcd1234.tunnel.test";

    private static readonly CertificateFactory Factory = new();

    public TestPki(KeyAlgorithm serverKey = KeyAlgorithm.EcdsaP256)
    {
        Ca = Factory.CreateCertificateAuthority("test-ca");
        Server = Factory.CreateServerCertificate(Ca, Domain, algorithm: serverKey);
    }

    public IssuedCertificate Ca { get; }

    public IssuedCertificate Server { get; }

    public IssuedCertificate NewServerCertificate(KeyAlgorithm key = KeyAlgorithm.EcdsaP256) => Factory.CreateServerCertificate(Ca, Domain, algorithm: key);

    public X509Certificate2Collection TrustedCas
    {
        get
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPem(Ca.CertificatePem);
            return collection;
        }
    }

    public void WriteTo(TempDirectory directory)
    {
        directory.Write("ca.crt", Ca.CertificatePem);
        directory.Write("tls.crt", Server.CertificatePem);
        directory.Write("tls.key", Server.PrivateKeyPem);
    }

    public static string Thumbprint(IssuedCertificate certificate) =>
        X509Certificate2.CreateFromPem(certificate.CertificatePem).Thumbprint;
}
