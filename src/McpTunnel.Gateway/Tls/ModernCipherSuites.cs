using System.Net.Security;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// AEAD-only suites with forward secrecy for the inner TLS server (spec 9, question 5: Go-style modern
/// defaults). TLS 1.3 suites are listed too because on Linux the policy applies to both versions.
/// </summary>
internal static class ModernCipherSuites
{
    public static readonly CipherSuitesPolicy Policy = new(
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]);

    // The same suites in OpenSSL's names, for the shared TLS context (SharedTlsContext), which OpenSSL restricts
    // directly. CipherSuitesPolicy and these lists must name the same suites: SharedTlsContextTests negotiates each
    // suite of the policy against the shared context and checks that CBC suites are refused.
    public const string OpenSslTls12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
    public const string OpenSslTls13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
}
