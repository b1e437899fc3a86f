using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace McpTunnel.Credentials;

/// <summary>
/// Generates the tunnel's CA and server certificates so that they meet every rule Anthropic enforces
/// (spec section 3): the CA has a critical <c>CA:TRUE</c>, a subject key identifier and <c>keyCertSign</c>;
/// the server certificate is signed directly by it, names <c>&lt;domain&gt;</c> and <c>*.&lt;domain&gt;</c>,
/// carries <c>serverAuth</c> and an authority key identifier equal to the CA's subject key identifier (the key id
/// only); signatures are SHA-256.
/// </summary>
public sealed class CertificateFactory(TimeProvider? time = null)
{
    /// <summary>The setup component's CA lifetime (spec 3.3).</summary>
    public static readonly TimeSpan DefaultCaValidity = TimeSpan.FromDays(5 * 365);

    /// <summary>The setup component's <c>--cert-duration</c> default, 2160h.</summary>
    public static readonly TimeSpan DefaultServerValidity = TimeSpan.FromHours(2160);

    /// <summary>Certificates start a little in the past so a peer with a slow clock accepts them at once.</summary>
    private static readonly TimeSpan Backdate = TimeSpan.FromMinutes(5);

    private readonly SecureRandom _random = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public IssuedCertificate CreateCertificateAuthority(string commonName = "mcp-tunnel-ca", TimeSpan? validity = null, KeyAlgorithm algorithm = KeyAlgorithm.EcdsaP256)
    {
        var keys = GenerateKeyPair(algorithm);
        var now = _time.GetUtcNow().UtcDateTime;
        var name = new X509Name($"CN={Escape(commonName)}");
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(NewSerial());
        generator.SetIssuerDN(name);
        generator.SetSubjectDN(name);
        generator.SetNotBefore(now - Backdate);
        generator.SetNotAfter(now + (validity ?? DefaultCaValidity));
        generator.SetPublicKey(keys.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, critical: true, new BasicConstraints(cA: true));
        generator.AddExtension(X509Extensions.KeyUsage, critical: true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign | KeyUsage.DigitalSignature));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(keys.Public));
        var certificate = generator.Generate(Signer(keys.Private));
        return new IssuedCertificate(ToPem(certificate), ToPem(keys.Private));
    }

    /// <summary>Signs a server certificate for <paramref name="domain"/> and <c>*.domain</c> with the given CA.</summary>
    public IssuedCertificate CreateServerCertificate(IssuedCertificate ca, string domain, TimeSpan? validity = null, KeyAlgorithm algorithm = KeyAlgorithm.EcdsaP256)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(domain);
        var caCertificate = ReadCertificate(ca.CertificatePem);
        var caKey = ReadPrivateKey(ca.PrivateKeyPem);
        var keys = GenerateKeyPair(algorithm);
        var now = _time.GetUtcNow().UtcDateTime;
        var notAfter = now + (validity ?? DefaultServerValidity);
        if (notAfter > caCertificate.NotAfter)
        {
            notAfter = caCertificate.NotAfter;
        }

        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(NewSerial());
        generator.SetIssuerDN(caCertificate.SubjectDN);
        generator.SetSubjectDN(new X509Name($"CN={Escape(domain)}"));
        generator.SetNotBefore(now - Backdate);
        generator.SetNotAfter(notAfter);
        generator.SetPublicKey(keys.Public);
        generator.AddExtension(X509Extensions.BasicConstraints, critical: true, new BasicConstraints(cA: false));
        var usage = keys.Public is RsaKeyParameters ? KeyUsage.DigitalSignature | KeyUsage.KeyEncipherment : KeyUsage.DigitalSignature;
        generator.AddExtension(X509Extensions.KeyUsage, critical: true, new KeyUsage(usage));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, critical: false, new ExtendedKeyUsage(KeyPurposeID.id_kp_serverAuth));
        generator.AddExtension(X509Extensions.SubjectAlternativeName, critical: false, new GeneralNames(
        [
            new GeneralName(GeneralName.DnsName, domain),
            new GeneralName(GeneralName.DnsName, "*." + domain),
        ]));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(keys.Public));
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, critical: false, new AuthorityKeyIdentifier(KeyIdentifierOf(caCertificate)));
        var certificate = generator.Generate(Signer(caKey));
        return new IssuedCertificate(ToPem(certificate), ToPem(keys.Private));
    }

    /// <summary>
    /// The CA's subject key identifier (what the authority key identifier must equal), or one computed from its
    /// key when it has none. The AKI carries the key id alone, as <c>openssl x509 -req</c> with
    /// <c>authorityKeyIdentifier=keyid</c> writes it: with the CA's issuer name and serial number in it too (BouncyCastle's
    /// <c>CreateAuthorityKeyIdentifier(certificate)</c>), a CA re-issued with the same key would no longer verify
    /// the certificates it signed.
    /// </summary>
    private static byte[] KeyIdentifierOf(X509Certificate ca)
    {
        var extension = ca.GetExtensionValue(X509Extensions.SubjectKeyIdentifier);
        return extension is null
            ? X509ExtensionUtilities.CreateSubjectKeyIdentifier(ca.GetPublicKey()).GetKeyIdentifier()
            : SubjectKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(extension)).GetKeyIdentifier();
    }

    internal static X509Certificate ReadCertificate(string pem)
    {
        using var reader = new StringReader(pem);
        return new PemReader(reader).ReadObject() as X509Certificate
            ?? throw new FormatException("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)");
    }

    internal static AsymmetricKeyParameter ReadPrivateKey(string pem)
    {
        using var reader = new StringReader(pem);
        return new PemReader(reader).ReadObject() switch
        {
            AsymmetricCipherKeyPair pair => pair.Private,
            AsymmetricKeyParameter { IsPrivate: true } key => key,
            _ => throw new FormatException("no PEM private key found (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"),
        };
    }

    private AsymmetricCipherKeyPair GenerateKeyPair(KeyAlgorithm algorithm)
    {
        if (algorithm == KeyAlgorithm.EcdsaP256)
        {
            var ec = new ECKeyPairGenerator("ECDSA");
            ec.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, _random));
            return ec.GenerateKeyPair();
        }

        var rsa = new RsaKeyPairGenerator();
        rsa.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(65537), _random, algorithm == KeyAlgorithm.Rsa4096 ? 4096 : 2048, 100));
        return rsa.GenerateKeyPair();
    }

    private Asn1SignatureFactory Signer(AsymmetricKeyParameter key) =>
        new(key is ECPrivateKeyParameters ? "SHA256WITHECDSA" : "SHA256WITHRSA", key, _random);

    private BigInteger NewSerial()
    {
        // 127 random bits: positive, unique, and within RFC 5280's 20-octet limit.
        return new BigInteger(127, _random).Add(BigInteger.One);
    }

    private static string Escape(string value) => value.Replace(",", "\\,", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal);

    private static string ToPem(X509Certificate certificate) => WritePem(certificate);

    private static string ToPem(AsymmetricKeyParameter privateKey) => WritePem(new Pkcs8Generator(privateKey).Generate());

    private static string WritePem(object value)
    {
        using var writer = new StringWriter { NewLine = "\n" };
        var pem = new PemWriter(writer);
        pem.WriteObject(value);
        pem.Writer.Flush();
        return writer.ToString();
    }
}
