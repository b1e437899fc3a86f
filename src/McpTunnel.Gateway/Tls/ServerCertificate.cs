using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// One loaded certificate and key pair with the TLS options built from it once, so a handshake costs no
/// allocation for configuration (Kestrel reads <see cref="ServerCertificateStore.Current"/> per handshake).
/// </summary>
public sealed class ServerCertificate
{
    private static readonly List<SslApplicationProtocol> Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    private readonly Task<SslServerAuthenticationOptions> _options;

    // Keeps this certificate's one OpenSSL context in the runtime's cache; null when it could not be shared and every
    // handshake builds its own (decision 0020).
    private SharedTlsContext? _shared;

    private ServerCertificate(X509Certificate2 certificate, ILogger? logger)
    {
        Certificate = certificate;
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
        // Building the context builds an X509 chain, and the first chain of the process loads the whole system
        // trust store (/etc/ssl/certs): the largest single cost of start-up in a perf profile (docs/benchmarks.md).
        // It runs beside the rest of start-up; a handshake that arrives before it is done waits for it.
        _options = Task.Run(() => CreateOptionsAsync(certificate, logger));
    }

    /// <summary>The shared OpenSSL context of this certificate's handshakes, once the options exist (null: one per handshake).</summary>
    internal SharedTlsContext? Shared => _shared;

    private async Task<SslServerAuthenticationOptions> CreateOptionsAsync(X509Certificate2 certificate, ILogger? logger)
    {
        // Without a cipher suites policy the runtime caches one SSL_CTX per certificate; SharedTlsContext restricts that
        // context to the same suites before any handshake sees these options. Where it cannot, the policy is set and
        // each handshake gets a context of its own, restricted by the runtime (the behaviour before decision 0020).
        var options = CreateOptions(certificate);
        _shared = await SharedTlsContext.CreateAsync(options, logger).ConfigureAwait(false);
        if (_shared is null)
        {
            options.CipherSuitesPolicy = ModernCipherSuites.Policy;
        }

        return options;
    }

    private static SslServerAuthenticationOptions CreateOptions(X509Certificate2 certificate) => new()
    {
        // offline: the leaf is served alone (spec 3.2: signed directly by the registered CA) and no chain
        // is fetched from the network.
        ServerCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true),
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ApplicationProtocols = Alpn,
        ClientCertificateRequired = false,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        AllowRenegotiation = false,
        // Also what lets the runtime cache the SSL_CTX (SharedTlsContext).
        AllowTlsResume = true,
    };

    public X509Certificate2 Certificate { get; }

    /// <summary>Lower-case hex SHA-256 of the DER, as the Tunnels API shows certificate fingerprints.</summary>
    public string Fingerprint { get; }

    public DateTimeOffset NotAfter => Certificate.NotAfter.ToUniversalTime();

    /// <summary>The TLS options for a handshake; completed (and allocation-free) once the context exists.</summary>
    public ValueTask<SslServerAuthenticationOptions> GetOptionsAsync() =>
        _options.IsCompletedSuccessfully ? ValueTask.FromResult(_options.Result) : new ValueTask<SslServerAuthenticationOptions>(_options);

    /// <summary>Loads a PEM certificate and its PEM key (RSA or ECDSA; PKCS#1, PKCS#8 or SEC1).</summary>
    /// <exception cref="CertificateLoadException">The files cannot be read, parsed, or do not belong together.</exception>
    public static ServerCertificate Load(string certFile, string keyFile)
    {
        var certPem = System.Text.Encoding.UTF8.GetString(ReadFile(certFile));
        var keyPem = System.Text.Encoding.UTF8.GetString(ReadFile(keyFile));
        return FromPem(certPem, keyPem, certFile, keyFile);
    }

    // logger: where a failure to share one TLS context between handshakes is reported (once per process).
    internal static ServerCertificate FromPem(string certPem, string keyPem, string certFile, string keyFile, ILogger? logger = null)
    {
        if (!certPem.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            throw new CertificateLoadException($"{certFile}: no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)");
        }

        if (!keyPem.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new CertificateLoadException($"{keyFile}: no PEM private key found (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)");
        }

        if (keyPem.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
        {
            throw new CertificateLoadException($"{keyFile}: the private key is encrypted; the gateway needs an unencrypted key (protect it with file permissions)");
        }

        X509Certificate2 pair;
        try
        {
            pair = X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            var reason = ex.Message.Contains("does not match", StringComparison.OrdinalIgnoreCase)
                ? $"the private key in {keyFile} does not belong to the certificate in {certFile}; replace both files together"
                : $"cannot load {certFile} with {keyFile}: {ex.Message}";
            throw new CertificateLoadException(reason, ex);
        }

        // Linux keeps ephemeral keys usable by SslStream; no export/re-import round trip is needed.
        return new ServerCertificate(pair, logger);
    }

    internal static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CertificateLoadException($"open {path}: no such file or directory");
        }
        catch (UnauthorizedAccessException)
        {
            throw new CertificateLoadException($"open {path}: permission denied (the gateway's user must be able to read it)");
        }
        catch (IOException ex)
        {
            throw new CertificateLoadException($"open {path}: {ex.Message}");
        }
    }
}
