using System.Security.Cryptography;
using McpTunnel.Configuration;
using McpTunnel.Credentials;

namespace McpTunnel.Operations;

/// <summary>
/// The server-certificate check of <c>doctor</c> and <c>cert inspect</c> (<see cref="CertificateInspector.CheckServer"/>),
/// handed to the gateway so it runs on every certificate it loads, at start and on each reload. A pair that loads can
/// still be one the edge refuses (a CA certificate used as the server certificate, a SAN that misses the tunnel
/// domain); the gateway serves it, and says so.
/// </summary>
public static class ServerCertificateAdvice
{
    public static Func<string, IEnumerable<string>> For(GatewayConfig config) => certificatePem =>
    {
        // As doctor does: the CA link is checked when ca.crt lies beside tls.crt.
        var caFile = DataDirectory.CaBeside(config.Tls.CertFile);
        string? caPem = null;
        try
        {
            caPem = File.Exists(caFile) ? File.ReadAllText(caFile) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not readable by the gateway's user: check without it.
        }

        var domain = config.TunnelDomain.Length > 0 ? config.TunnelDomain : null;
        IReadOnlyList<RequirementCheck> checks;
        try
        {
            checks = CertificateInspector.CheckServer(certificatePem, keyPem: null, caPem, domain, DateTimeOffset.UtcNow);
        }
        catch (CryptographicException)
        {
            // ca.crt is not a certificate; the server certificate itself loaded, so check it alone.
            checks = CertificateInspector.CheckServer(certificatePem, keyPem: null, caPem: null, domain, DateTimeOffset.UtcNow);
        }

        return checks.Where(c => !c.Passed).Select(c => $"{c.Subject}: {c.Requirement} ({c.Detail}){(c.Fix is null ? "" : $"; {c.Fix}")}").ToList();
    };
}
