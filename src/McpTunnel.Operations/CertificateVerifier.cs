using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace McpTunnel.Operations;

/// <summary>The checks the edge applies to the gateway's certificate (spec 1.4 and 3.2), with reasons.</summary>
public static class CertificateVerifier
{
    /// <summary>Returns null when the certificate is acceptable, else why not.</summary>
    public static string? Verify(X509Certificate2? certificate, SslPolicyErrors errors, X509Certificate2Collection? trustedCas)
    {
        if (certificate is null)
        {
            return "the gateway presented no certificate";
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return $"bad certificate: its names ({string.Join(", ", DnsNames(certificate))}) do not cover the requested host; the SAN must include *.<tunnel_domain>";
        }

        if (trustedCas is null || trustedCas.Count == 0)
        {
            return "no CA to verify against (pass --ca with the CA registered on the tunnel)";
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustedCas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (!chain.Build(certificate))
        {
            var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            return $"unknown certificate authority or invalid certificate: {status}";
        }

        if (chain.ChainElements.Count != 2)
        {
            return "the certificate must be signed directly by the registered CA (no intermediates)";
        }

        return null;
    }

    public static IEnumerable<string> DnsNames(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames());
}
