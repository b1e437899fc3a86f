using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace McpTunnel.Credentials;

/// <summary>
/// Checks a CA and a server certificate against every rule the tunnel edge enforces (spec 3.1 and 3.2). It
/// parses with .NET's own X.509 code, independently of the BouncyCastle generator, so it also serves as the
/// test oracle for what we generate, and it accepts material made with the documented openssl recipe.
/// </summary>
public static class CertificateInspector
{
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    public static DateTimeOffset NotAfter(string certificatePem)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        return certificate.NotAfter.ToUniversalTime();
    }

    /// <summary>Checks a CA file's content as the API does when it is registered.</summary>
    public static IReadOnlyList<RequirementCheck> CheckCa(string caPem, DateTimeOffset now)
    {
        const string subject = "ca.crt";
        var checks = new List<RequirementCheck>();
        var blocks = CountBlocks(caPem, "CERTIFICATE");
        checks.Add(new(subject, "exactly one PEM certificate", blocks == 1, $"{blocks} certificate block(s)", "keep only the CA certificate in ca.crt"));
        var hasKey = caPem.Contains("PRIVATE KEY", StringComparison.Ordinal);
        checks.Add(new(subject, "no private key material", !hasKey, hasKey ? "a private key block is present" : "none", "move the key to ca.key; never upload it"));
        var size = System.Text.Encoding.UTF8.GetByteCount(caPem);
        checks.Add(new(subject, "at most 8192 bytes", size <= 8192, $"{size} bytes", "a CA certificate is normally under 2 KB; remove extra blocks"));
        if (blocks == 0)
        {
            return checks;
        }

        using var ca = X509Certificate2.CreateFromPem(caPem);
        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        checks.Add(new(subject, "basicConstraints CA:TRUE, critical", constraints is { CertificateAuthority: true, Critical: true },
            constraints is null ? "missing" : $"CA:{constraints.CertificateAuthority.ToString().ToUpperInvariant()}{(constraints.Critical ? ", critical" : ", not critical")}",
            "regenerate the CA with -addext \"basicConstraints=critical,CA:TRUE\" (or mcp-tunnel cert init)"));
        var ski = ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault();
        checks.Add(new(subject, "subjectKeyIdentifier present", ski is not null, ski?.SubjectKeyIdentifier ?? "missing", "regenerate with -addext \"subjectKeyIdentifier=hash\""));
        var usage = ca.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        checks.Add(new(subject, "keyUsage includes keyCertSign", usage is not null && usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign),
            usage?.KeyUsages.ToString() ?? "missing", "regenerate with -addext \"keyUsage=critical,keyCertSign,cRLSign\""));
        AddCommon(checks, subject, ca, now, "regenerate the CA (and register the new one)");
        return checks;
    }

    /// <summary>Checks a server certificate (and optionally its key) against its CA and the tunnel domain.</summary>
    public static IReadOnlyList<RequirementCheck> CheckServer(string serverPem, string? keyPem, string? caPem, string? domain, DateTimeOffset now)
    {
        const string subject = "tls.crt";
        var checks = new List<RequirementCheck>();
        using var server = X509Certificate2.CreateFromPem(serverPem);
        var blocks = CountBlocks(serverPem, "CERTIFICATE");
        checks.Add(new(subject, "the leaf only (no chain)", blocks == 1, $"{blocks} certificate block(s)", "the leaf must be signed directly by the registered CA; drop intermediates"));

        if (caPem is not null)
        {
            using var ca = X509Certificate2.CreateFromPem(caPem);
            var signed = SignedBy(server, ca);
            checks.Add(new(subject, "signed directly by ca.crt", signed, signed ? $"issuer {server.Issuer}" : $"issuer {server.Issuer} does not verify with {ca.Subject}",
                "sign the server certificate with this CA (mcp-tunnel cert renew)"));
            var aki = AuthorityKeyId(server);
            var caSki = ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault()?.SubjectKeyIdentifier;
            checks.Add(new(subject, "authorityKeyIdentifier equals the CA's subjectKeyIdentifier",
                aki is not null && caSki is not null && string.Equals(aki, caSki, StringComparison.OrdinalIgnoreCase),
                aki is null ? "no authorityKeyIdentifier" : $"AKI {aki}, CA SKI {caSki ?? "missing"}",
                "add authorityKeyIdentifier=keyid,issuer to the extension file, or use mcp-tunnel cert renew"));
        }

        var names = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (domain is not null)
        {
            var wildcard = "*." + domain;
            var covers = names.Any(n => string.Equals(n, wildcard, StringComparison.OrdinalIgnoreCase));
            checks.Add(new(subject, $"SAN covers *.{domain}", covers, names.Count == 0 ? "no DNS names" : string.Join(", ", names),
                $"reissue with subjectAltName = DNS:{domain},DNS:*.{domain}"));
        }
        else
        {
            checks.Add(new(subject, "SAN has DNS names", names.Count > 0, names.Count == 0 ? "no DNS names" : string.Join(", ", names), "reissue with a subjectAltName"));
        }

        var eku = server.Extensions.OfType<X509EnhancedKeyUsageExtension>().FirstOrDefault();
        var serverAuth = eku is null || eku.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == ServerAuthOid);
        checks.Add(new(subject, "extendedKeyUsage absent or includes serverAuth", serverAuth,
            eku is null ? "no EKU" : string.Join(", ", eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.FriendlyName ?? o.Value)), "reissue with extendedKeyUsage = serverAuth"));
        var isCa = server.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault()?.CertificateAuthority == true;
        checks.Add(new(subject, "not a CA certificate", !isCa, isCa ? "CA:TRUE" : "CA:FALSE or absent", "the server certificate must be a leaf"));
        AddCommon(checks, subject, server, now, "renew it: mcp-tunnel setup renew-cert (or mcp-tunnel cert renew)");

        if (keyPem is not null)
        {
            var matches = KeyMatches(server, keyPem, out var detail);
            checks.Add(new("tls.key", "private key matches tls.crt", matches, detail, "replace tls.crt and tls.key together"));
        }

        return checks;
    }

    private static void AddCommon(List<RequirementCheck> checks, string subject, X509Certificate2 certificate, DateTimeOffset now, string renewFix)
    {
        var notBefore = certificate.NotBefore.ToUniversalTime();
        var notAfter = certificate.NotAfter.ToUniversalTime();
        var valid = now >= notBefore && now <= notAfter;
        checks.Add(new(subject, "within its validity period", valid, $"{notBefore:yyyy-MM-dd HH:mm} to {notAfter:yyyy-MM-dd HH:mm} UTC", renewFix));
        var (keyOk, keyDetail) = KeyStrength(certificate);
        checks.Add(new(subject, "key RSA >= 2048 bits or ECDSA >= P-256", keyOk, keyDetail, "regenerate with a stronger key"));
        var algorithm = certificate.SignatureAlgorithm.FriendlyName ?? certificate.SignatureAlgorithm.Value ?? "?";
        var strong = certificate.SignatureAlgorithm.Value is "1.2.840.113549.1.1.11" or "1.2.840.113549.1.1.12" or "1.2.840.113549.1.1.13"
            or "1.2.840.10045.4.3.2" or "1.2.840.10045.4.3.3" or "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.10";
        checks.Add(new(subject, "signature SHA-256 or stronger", strong, algorithm, "re-sign with -sha256"));
    }

    private static (bool Ok, string Detail) KeyStrength(X509Certificate2 certificate)
    {
        using var rsa = certificate.GetRSAPublicKey();
        if (rsa is not null)
        {
            return (rsa.KeySize >= 2048, $"RSA {rsa.KeySize}");
        }

        using var ec = certificate.GetECDsaPublicKey();
        if (ec is not null)
        {
            var curve = ec.ExportParameters(false).Curve;
            var name = curve.Oid?.FriendlyName ?? curve.Oid?.Value ?? "?";
            var ok = ec.KeySize >= 256 && name is "nistP256" or "ECDSA_P256" or "nistP384" or "ECDSA_P384" or "nistP521" or "ECDSA_P521" or "secp256r1" or "secp384r1" or "secp521r1";
            return (ok, $"ECDSA {name} ({ec.KeySize} bits)");
        }

        return (false, $"unsupported key algorithm {certificate.PublicKey.Oid.FriendlyName}");
    }

    private static bool SignedBy(X509Certificate2 leaf, X509Certificate2 ca)
    {
        if (!string.Equals(leaf.Issuer, ca.Subject, StringComparison.Ordinal))
        {
            return false;
        }

        // "Signed directly by the CA" is one signature: verify it with the CA's public key. An X509Chain would do the
        // same and more, but OpenSSL's chain code loads the whole system trust store for every chain, custom root or
        // not (two thirds of the gateway's start-up CPU, where this check runs before the listener binds). Signature
        // algorithms other than ECDSA and RSA PKCS#1 v1.5 with SHA-2 (what spec 3.2 names and every recipe makes; RSA-PSS, say)
        // keep the chain.
        var (tbs, algorithm, signature) = SignedParts(leaf.RawData);
        return algorithm switch
        {
            "1.2.840.10045.4.3.2" => VerifyEcdsa(ca, tbs, signature, HashAlgorithmName.SHA256),
            "1.2.840.10045.4.3.3" => VerifyEcdsa(ca, tbs, signature, HashAlgorithmName.SHA384),
            "1.2.840.10045.4.3.4" => VerifyEcdsa(ca, tbs, signature, HashAlgorithmName.SHA512),
            "1.2.840.113549.1.1.11" => VerifyRsa(ca, tbs, signature, HashAlgorithmName.SHA256),
            "1.2.840.113549.1.1.12" => VerifyRsa(ca, tbs, signature, HashAlgorithmName.SHA384),
            "1.2.840.113549.1.1.13" => VerifyRsa(ca, tbs, signature, HashAlgorithmName.SHA512),
            _ => SignedByChain(leaf, ca),
        };
    }

    /// <summary>The DER of tbsCertificate, the signature algorithm's OID and the signature's bytes (RFC 5280 4.1).</summary>
    private static (byte[] Tbs, string Algorithm, byte[] Signature) SignedParts(byte[] certificate)
    {
        var outer = new AsnReader(certificate, AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        var algorithm = outer.ReadSequence().ReadObjectIdentifier();
        var signature = outer.ReadBitString(out _);
        return (tbs, algorithm, signature);
    }

    private static bool VerifyEcdsa(X509Certificate2 ca, byte[] tbs, byte[] signature, HashAlgorithmName hash)
    {
        using var key = ca.GetECDsaPublicKey();
        return key is not null && key.VerifyData(tbs, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    private static bool VerifyRsa(X509Certificate2 ca, byte[] tbs, byte[] signature, HashAlgorithmName hash)
    {
        using var key = ca.GetRSAPublicKey();
        return key is not null && key.VerifyData(tbs, signature, hash, RSASignaturePadding.Pkcs1);
    }

    private static bool SignedByChain(X509Certificate2 leaf, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid | X509VerificationFlags.IgnoreWrongUsage;
        return chain.Build(leaf) && chain.ChainElements.Count == 2;
    }

    private static string? AuthorityKeyId(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions["2.5.29.35"];
        if (extension is null)
        {
            return null;
        }

        var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
        if (reader.HasData && reader.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
        {
            return Convert.ToHexString(reader.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0)));
        }

        return null;
    }

    private static bool KeyMatches(X509Certificate2 certificate, string keyPem, out string detail)
    {
        try
        {
            using var pair = X509Certificate2.CreateFromPem(certificate.ExportCertificatePem(), keyPem);
            detail = "matches";
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            detail = ex.Message;
            return false;
        }
    }

    private static int CountBlocks(string pem, string label)
    {
        var marker = $"-----BEGIN {label}-----";
        var count = 0;
        for (var i = pem.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = pem.IndexOf(marker, i + marker.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
