using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using McpTunnel.Credentials;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Credentials;

/// <summary>`cert inspect` fails each broken requirement with its fix; built with .NET's CertificateRequest.</summary>
public sealed class CertificateInspectorTests
{
    private static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem();

    private static IEnumerable<RequirementCheck> Failed(IEnumerable<RequirementCheck> checks) => checks.Where(c => !c.Passed);

    [Fact]
    public void A_ca_without_critical_basic_constraints_or_ski_fails_those_checks_only()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=weak-ca", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));

        var failed = Failed(CertificateInspector.CheckCa(Pem(ca), DateTimeOffset.UtcNow)).Select(c => c.Requirement).ToList();

        Assert.Equal(["basicConstraints CA:TRUE, critical", "subjectKeyIdentifier present"], failed);
    }

    [Fact]
    public void A_ca_file_with_its_key_inside_or_two_certificates_fails()
    {
        var pki = new TestPki();
        var checks = CertificateInspector.CheckCa(pki.Ca.CertificatePem + pki.Ca.PrivateKeyPem + pki.Server.CertificatePem, DateTimeOffset.UtcNow);
        Assert.Contains(Failed(checks), c => c.Requirement == "no private key material");
        Assert.Contains(Failed(checks), c => c.Requirement == "exactly one PEM certificate");
    }

    [Fact]
    public void A_server_certificate_for_another_domain_with_a_foreign_key_and_expired_fails_each_check()
    {
        var pki = new TestPki();
        var stranger = new TestPki();
        var later = DateTimeOffset.UtcNow.AddDays(200);
        var failed = Failed(CertificateInspector.CheckServer(pki.Server.CertificatePem, stranger.Server.PrivateKeyPem, stranger.Ca.CertificatePem, "other.example", later))
            .Select(c => c.Requirement).ToList();

        Assert.Contains("signed directly by ca.crt", failed);
        Assert.Contains("authorityKeyIdentifier equals the CA's subjectKeyIdentifier", failed);
        Assert.Contains("SAN covers *.other.example", failed);
        Assert.Contains("within its validity period", failed);
        Assert.Contains("private key matches tls.crt", failed);
        Assert.All(Failed(CertificateInspector.CheckServer(pki.Server.CertificatePem, stranger.Server.PrivateKeyPem, stranger.Ca.CertificatePem, "other.example", later)),
            c => Assert.False(string.IsNullOrEmpty(c.Fix)));
    }

    [Fact]
    public void A_server_certificate_with_client_auth_only_an_rsa_1024_key_and_no_aki_fails()
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));

        using var weak = RSA.Create(1024);
        var request = new CertificateRequest("CN=t.example", weak, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("*.t.example");
        request.CertificateExtensions.Add(san.Build());
        using var leaf = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3]);

        var failed = Failed(CertificateInspector.CheckServer(Pem(leaf), null, Pem(ca), "t.example", DateTimeOffset.UtcNow)).Select(c => c.Requirement).ToList();
        Assert.Contains("extendedKeyUsage absent or includes serverAuth", failed);
        Assert.Contains("key RSA >= 2048 bits or ECDSA >= P-256", failed);
        Assert.DoesNotContain("signature SHA-256 or stronger", failed);
        Assert.Contains("authorityKeyIdentifier equals the CA's subjectKeyIdentifier", failed);
    }

    [Theory]
    [InlineData("ecdsa-sha384")]
    [InlineData("rsa-pkcs1-sha256")]
    [InlineData("rsa-pss-sha256")] // not verified directly: the chain still decides
    public void Signed_directly_is_the_cas_signature_for_each_algorithm_and_a_changed_byte_fails_it(string algorithm)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var rsa = RSA.Create(2048);
        var caRequest = algorithm switch
        {
            "ecdsa-sha384" => new CertificateRequest("CN=ca", ecdsa, HashAlgorithmName.SHA384),
            "rsa-pkcs1-sha256" => new CertificateRequest("CN=ca", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            _ => new CertificateRequest("CN=ca", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
        };
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=t.example", leafKey, HashAlgorithmName.SHA256);
        var signer = algorithm switch
        {
            "ecdsa-sha384" => X509SignatureGenerator.CreateForECDsa(ecdsa),
            "rsa-pkcs1-sha256" => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            _ => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pss),
        };
        using var leaf = request.Create(ca.SubjectName, signer, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), [1, 2, 3]);

        Assert.DoesNotContain("signed directly by ca.crt", Failed(CertificateInspector.CheckServer(Pem(leaf), null, Pem(ca), null, DateTimeOffset.UtcNow)).Select(c => c.Requirement));

        // The same certificate with one bit of its signature flipped (the last byte of the DER is the signature's).
        var tampered = leaf.RawData.ToArray();
        tampered[^1] ^= 0x01;
        var tamperedPem = PemEncoding.WriteString("CERTIFICATE", tampered);
        Assert.Contains("signed directly by ca.crt", Failed(CertificateInspector.CheckServer(tamperedPem, null, Pem(ca), null, DateTimeOffset.UtcNow)).Select(c => c.Requirement));
    }

    [Fact]
    public void The_cli_prints_pass_and_fail_lines_and_exits_by_the_result()
    {
        using var directory = new TempDirectory();
        var pki = new TestPki();
        pki.WriteTo(directory);
        directory.Write("ca.key", pki.Ca.PrivateKeyPem);
        directory.Write("tunnel-domain", TestPki.Domain + "\n");
        var output = new StringWriter();
        Assert.Equal(0, McpTunnel.Commands.Cert.CertInspectCommand.Inspect(directory.Path, null, null, output, new StringWriter()));
        Assert.Contains($"pass  tls.crt SAN covers *.{TestPki.Domain}", output.ToString(), StringComparison.Ordinal);

        directory.Write("tls.key", pki.NewServerCertificate().PrivateKeyPem);
        output = new StringWriter();
        Assert.Equal(1, McpTunnel.Commands.Cert.CertInspectCommand.Inspect(directory.Path, null, null, output, new StringWriter()));
        Assert.Contains("FAIL  tls.key private key matches tls.crt", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("fix: replace tls.crt and tls.key together", output.ToString(), StringComparison.Ordinal);
    }
}
