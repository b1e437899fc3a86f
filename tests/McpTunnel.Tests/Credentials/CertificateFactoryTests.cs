using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using McpTunnel.Credentials;

namespace McpTunnel.Tests.Credentials;

/// <summary>
/// What the BouncyCastle generator makes, parsed back with .NET's own X.509 code (an independent parser), one
/// assertion per requirement of spec section 3.
/// </summary>
public sealed class CertificateFactoryTests
{
    private const string Domain = "abcd1234.tunnel.anthropic.com";
    private static readonly CertificateFactory Factory = new();

    [Fact]
    public void The_ca_meets_every_registration_requirement()
    {
        var ca = Factory.CreateCertificateAuthority();
        using var certificate = X509Certificate2.CreateFromPem(ca.CertificatePem);

        Assert.Single(ca.CertificatePem.Split("-----BEGIN CERTIFICATE-----", StringSplitOptions.RemoveEmptyEntries), p => p.Contains("END CERTIFICATE", StringComparison.Ordinal));
        Assert.DoesNotContain("PRIVATE KEY", ca.CertificatePem, StringComparison.Ordinal);
        Assert.True(ca.CertificatePem.Length <= 8192);
        var constraints = certificate.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.CertificateAuthority);
        Assert.True(constraints.Critical);
        Assert.NotNull(certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single().SubjectKeyIdentifier);
        Assert.True(certificate.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign));
        using var key = certificate.GetECDsaPublicKey()!;
        Assert.Equal(256, key.KeySize);
        Assert.Equal("1.2.840.10045.4.3.2", certificate.SignatureAlgorithm.Value); // ecdsa-with-SHA256
        var lifetime = certificate.NotAfter - certificate.NotBefore;
        Assert.InRange(lifetime.TotalDays, 5 * 365, 5 * 365 + 1);
        Assert.True(certificate.NotBefore <= DateTime.Now && DateTime.Now <= certificate.NotAfter);
        Assert.Equal("CN=mcp-tunnel-ca", certificate.Subject);
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcdsaP256)]
    [InlineData(KeyAlgorithm.Rsa4096)]
    [InlineData(KeyAlgorithm.Rsa2048)]
    public void The_server_certificate_meets_every_requirement(KeyAlgorithm algorithm)
    {
        var ca = Factory.CreateCertificateAuthority();
        var server = Factory.CreateServerCertificate(ca, Domain, algorithm: algorithm);
        using var caCertificate = X509Certificate2.CreateFromPem(ca.CertificatePem);
        using var leaf = X509Certificate2.CreateFromPem(server.CertificatePem);

        // Signed directly by the CA.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(caCertificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(2, chain.ChainElements.Count);

        // AKI keyIdentifier == CA SKI.
        var akiExtension = leaf.Extensions["2.5.29.35"]!;
        var aki = new AsnReader(akiExtension.RawData, AsnEncodingRules.DER).ReadSequence().ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0));
        Assert.Equal(caCertificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single().SubjectKeyIdentifier, Convert.ToHexString(aki));

        // SAN: the domain and its wildcard; EKU serverAuth; a leaf.
        Assert.Equal([Domain, "*." + Domain], leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Contains(leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.1");
        Assert.False(leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal($"CN={Domain}", leaf.Subject);

        // Validity: --cert-duration's default 2160h, within the CA's.
        Assert.InRange((leaf.NotAfter - DateTime.Now).TotalHours, 2159, 2160);
        Assert.True(leaf.NotAfter <= caCertificate.NotAfter);

        // Key type and SHA-256 signature by the ECDSA CA; the key file matches the certificate.
        using var pair = X509Certificate2.CreateFromPem(server.CertificatePem, server.PrivateKeyPem);
        Assert.True(pair.HasPrivateKey);
        Assert.Equal("1.2.840.10045.4.3.2", leaf.SignatureAlgorithm.Value);
        if (algorithm == KeyAlgorithm.EcdsaP256)
        {
            using var ec = leaf.GetECDsaPublicKey()!;
            Assert.Equal(256, ec.KeySize);
        }
        else
        {
            using var rsa = leaf.GetRSAPublicKey()!;
            Assert.Equal(algorithm == KeyAlgorithm.Rsa4096 ? 4096 : 2048, rsa.KeySize);
        }

        Assert.Contains("-----BEGIN PRIVATE KEY-----", server.PrivateKeyPem, StringComparison.Ordinal); // PKCS#8
    }

    [Fact]
    public void Serial_numbers_are_positive_and_unique()
    {
        var ca = Factory.CreateCertificateAuthority();
        var serials = Enumerable.Range(0, 20).Select(_ =>
        {
            using var leaf = X509Certificate2.CreateFromPem(Factory.CreateServerCertificate(ca, Domain).CertificatePem);
            return leaf.SerialNumber;
        }).ToList();
        Assert.Equal(serials.Count, serials.Distinct().Count());
        Assert.All(serials, s => Assert.True(BigInteger.Parse("0" + s, System.Globalization.NumberStyles.HexNumber) > 0));
    }

    [Fact]
    public void Secrets_do_not_show_in_tostring()
    {
        var ca = Factory.CreateCertificateAuthority();
        Assert.DoesNotContain("PRIVATE", ca.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_ca_re_issued_with_the_same_key_still_verifies_the_server_certificates_it_signed()
    {
        // Issue 10: the AKI carried the CA's issuer name and serial besides the key id, so a CA certificate
        // re-issued with the same key (new serial, new validity) no longer verified the server certificate.
        var ca = Factory.CreateCertificateAuthority();
        var server = Factory.CreateServerCertificate(ca, Domain);
        using var original = X509Certificate2.CreateFromPem(ca.CertificatePem);
        using var key = ECDsa.Create();
        key.ImportFromPem(ca.PrivateKeyPem);
        var request = new CertificateRequest(original.SubjectName, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(original.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single().SubjectKeyIdentifier!, false));
        using var reissued = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddYears(10));
        Assert.NotEqual(original.SerialNumber, reissued.SerialNumber);
        using var leaf = X509Certificate2.CreateFromPem(server.CertificatePem);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(reissued);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));

        // The AKI is the key id alone: [0] keyIdentifier, no [1] authorityCertIssuer, no [2] serial.
        var aki = new AsnReader(leaf.Extensions["2.5.29.35"]!.RawData, AsnEncodingRules.DER).ReadSequence();
        aki.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0));
        Assert.False(aki.HasData);
    }
}
