using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Tls;

namespace McpTunnel.Gateway.Upstream;

/// <summary>
/// Certificate trust for <c>https://</c> upstreams (spec 2.5): the certificates in <c>upstream.tls.ca_file</c>,
/// the operating system's store only when <c>include_system_cas</c> is true, and nothing otherwise. The host
/// name must always match.
/// </summary>
public sealed class UpstreamTrust
{
    private readonly X509Certificate2Collection _anchors = [];
    private readonly bool _includeSystem;

    public UpstreamTrust(UpstreamConfig config)
    {
        _includeSystem = config.IncludeSystemCas;
        if (config.CaFile is not null)
        {
            try
            {
                _anchors.ImportFromPemFile(config.CaFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new CertificateLoadException($"upstream.tls.ca_file {config.CaFile}: {ex.Message}", ex);
            }

            if (_anchors.Count == 0)
            {
                throw new CertificateLoadException($"upstream.tls.ca_file {config.CaFile}: no PEM certificate found");
            }
        }
    }

    public bool Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }

        if (_includeSystem && errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (_anchors.Count == 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_anchors);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }
}
