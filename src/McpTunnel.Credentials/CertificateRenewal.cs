using System.Security.Cryptography.X509Certificates;

namespace McpTunnel.Credentials;

/// <summary>
/// <c>setup renew-cert</c> and <c>cert renew</c>: a new server certificate (and a fresh key of the same type,
/// spec open question 25) signed by the stored CA. No API call, no credentials. A no-op while more validity
/// than <c>--renew-before</c> remains, so it is safe to run daily. The running gateway notices the new pair by
/// itself.
/// </summary>
public sealed class CertificateRenewal(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public RenewalResult Renew(DataDirectory output, TimeSpan duration, TimeSpan renewBefore, KeyAlgorithm? keyAlgorithm = null)
    {
        if (!Directory.Exists(output.Path))
        {
            throw new CredentialsException($"{output.Path} does not exist; run `mcp-tunnel setup init` (or `mcp-tunnel cert init`) first");
        }

        // Writes into the directory as it is (no note: this runs daily from a timer), refusing one others could write.
        output.CheckExisting();
        using var directoryLock = output.Lock();
        var caPem = output.Read(DataDirectory.CaCertificate)
            ?? throw new CredentialsException($"{output.File(DataDirectory.CaCertificate)} is missing; renewal signs with the stored CA, so run setup init (or cert init) first");
        var caKey = output.Read(DataDirectory.CaKey)
            ?? throw new CredentialsException($"{output.File(DataDirectory.CaKey)} is missing; renewal needs the CA's key (restore it from where you keep it)");
        var currentPem = output.Read(DataDirectory.ServerCertificate);
        var now = _time.GetUtcNow();

        if (currentPem is not null && renewBefore > TimeSpan.Zero)
        {
            var notAfter = CertificateInspector.NotAfter(currentPem);
            if (notAfter - now > renewBefore)
            {
                return new RenewalResult(false, notAfter, $"the server certificate is valid until {notAfter:yyyy-MM-dd HH:mm} UTC, more than {McpTunnelDuration(renewBefore)} from now; nothing to do");
            }
        }

        var domain = output.ReadValue(DataDirectory.TunnelDomain) ?? DomainFrom(currentPem)
            ?? throw new CredentialsException($"cannot tell the tunnel domain: {output.File(DataDirectory.TunnelDomain)} is missing and there is no *.<domain> certificate to copy it from; write the domain into that file");
        var algorithm = keyAlgorithm ?? AlgorithmOf(output.Read(DataDirectory.ServerKey)) ?? KeyAlgorithm.EcdsaP256;
        var issued = new CertificateFactory(_time).CreateServerCertificate(new IssuedCertificate(caPem, caKey), domain, duration, algorithm);
        output.Write(DataDirectory.ServerKey, issued.PrivateKeyPem);
        output.Write(DataDirectory.ServerCertificate, issued.CertificatePem);
        var newNotAfter = CertificateInspector.NotAfter(issued.CertificatePem);
        return new RenewalResult(true, newNotAfter, $"issued a new server certificate for *.{domain} ({SetupInit.Describe(algorithm)}), valid until {newNotAfter:yyyy-MM-dd HH:mm} UTC");
    }

    /// <summary>The domain of a certificate whose SAN holds <c>*.domain</c>.</summary>
    public static string? DomainFrom(string? certificatePem)
    {
        if (certificatePem is null)
        {
            return null;
        }

        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        return certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames())
            .FirstOrDefault(n => n.StartsWith("*.", StringComparison.Ordinal))?[2..];
    }

    /// <summary>Keeps the key type of an existing key (an openssl-made RSA 2048 key stays RSA 2048).</summary>
    public static KeyAlgorithm? AlgorithmOf(string? keyPem)
    {
        if (keyPem is null)
        {
            return null;
        }

        try
        {
            using var rsa = System.Security.Cryptography.RSA.Create();
            rsa.ImportFromPem(keyPem);
            return rsa.KeySize >= 4096 ? KeyAlgorithm.Rsa4096 : KeyAlgorithm.Rsa2048;
        }
        catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            return KeyAlgorithm.EcdsaP256;
        }
    }

    private static string McpTunnelDuration(TimeSpan value) => $"{(long)value.TotalHours}h";
}
