using System.Globalization;
using System.Security.Cryptography;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// Holds the current inner-TLS certificate and reloads it when <c>tls.cert_file</c> or <c>tls.key_file</c>
/// change (spec 2.6 and open question 14).
/// </summary>
/// <remarks>
/// 1. Every poll reads both files and hashes them together; unchanged content costs two small reads.
/// 2. Changed content is loaded as a pair; success is published with one reference write, so a handshake
///    sees either the old pair or the new one, never a mix. Open connections keep the pair they started with.
/// 3. A failure is first reported as pending (a writer may have replaced the certificate but not yet the
///    key) and retried on the next poll; if the same content still fails, it is an error. The previous pair
///    keeps serving in both cases.
/// </remarks>
public sealed class ServerCertificateStore : IDisposable
{
    private readonly TlsConfig _files;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Func<string, IEnumerable<string>>? _check;
    private readonly Lock _pollLock = new();
    private ITimer? _timer;
    private volatile ServerCertificate _current;
    private byte[] _currentHash;
    private byte[]? _failedHash;
    private bool _failureReported;

    private ServerCertificateStore(TlsConfig files, ServerCertificate first, byte[] hash, ILogger logger, TimeProvider time, TimeSpan interval, Func<string, IEnumerable<string>>? check)
    {
        _check = check;
        _files = files;
        _current = first;
        _currentHash = hash;
        _logger = logger;
        _time = time;
        _interval = interval;
    }

    public ServerCertificate Current => _current;

    /// <summary>Number of successful reloads since start (for tests and metrics).</summary>
    public int ReloadCount { get; private set; }

    /// <summary>
    /// Loads the pair now; throws <see cref="CertificateLoadException"/> when it cannot be used. <paramref name="check"/>,
    /// when given, judges each loaded certificate (PEM) against the tunnel's requirements (the caller passes the
    /// same check <c>doctor</c> runs); every problem it returns is logged as a warning, at start and on each reload.
    /// </summary>
    public static ServerCertificateStore Open(TlsConfig files, ILogger logger, TimeProvider? time = null, TimeSpan? interval = null, Func<string, IEnumerable<string>>? check = null)
    {
        var (certPem, keyPem, hash) = Read(files);
        var first = ServerCertificate.FromPem(certPem, keyPem, files.CertFile, files.KeyFile, logger);
        var store = new ServerCertificateStore(files, first, hash, logger, time ?? TimeProvider.System, interval ?? TimeSpan.FromSeconds(10), check);
        GatewayLog.CertificateLoaded(logger, first.Certificate.Subject, Format(first.NotAfter), first.Fingerprint);
        store.WarnIfExpiring(first);
        store.Advise(certPem);
        return store;
    }

    /// <summary>Starts polling at the configured interval.</summary>
    public void StartPolling() => _timer ??= _time.CreateTimer(_ => PollSafely(), null, _interval, _interval);

    private void PollSafely()
    {
        try
        {
            Poll();
        }
        catch (Exception ex)
        {
            // A timer callback must never take the process down; the current pair keeps serving.
            GatewayLog.CertificateReloadFailed(_logger, ex.Message);
        }
    }

    /// <summary>Checks the files once; returns true when a new pair was published.</summary>
    public bool Poll()
    {
        lock (_pollLock)
        {
            string certPem, keyPem;
            byte[] hash;
            try
            {
                (certPem, keyPem, hash) = Read(_files);
            }
            catch (CertificateLoadException ex)
            {
                ReportFailure(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ex.Message)), ex.Message);
                return false;
            }

            if (hash.AsSpan().SequenceEqual(_currentHash))
            {
                _failedHash = null;
                _failureReported = false;
                return false;
            }

            ServerCertificate next;
            try
            {
                next = ServerCertificate.FromPem(certPem, keyPem, _files.CertFile, _files.KeyFile, _logger);
            }
            catch (CertificateLoadException ex)
            {
                ReportFailure(hash, ex.Message);
                return false;
            }

            _current = next;
            _currentHash = hash;
            _failedHash = null;
            _failureReported = false;
            ReloadCount++;
            GatewayLog.CertificateReloaded(_logger, next.Certificate.Subject, Format(next.NotAfter), next.Fingerprint);
            WarnIfExpiring(next);
            Advise(certPem);
            return true;
        }
    }

    private void ReportFailure(byte[] failure, string reason)
    {
        if (_failedHash is not null && failure.AsSpan().SequenceEqual(_failedHash))
        {
            if (!_failureReported)
            {
                GatewayLog.CertificateReloadFailed(_logger, reason);
                _failureReported = true;
            }

            return;
        }

        _failedHash = failure;
        _failureReported = false;
        GatewayLog.CertificateReloadPending(_logger, reason);
    }

    private void WarnIfExpiring(ServerCertificate certificate)
    {
        if (certificate.NotAfter - _time.GetUtcNow() < TimeSpan.FromDays(7))
        {
            GatewayLog.CertificateExpiring(_logger, Format(certificate.NotAfter));
        }
    }

    /// <summary>Logs what the requirement check finds wrong with a certificate that loads (a CA as the server certificate, ...).</summary>
    private void Advise(string certPem)
    {
        if (_check is null)
        {
            return;
        }

        foreach (var problem in _check(certPem))
        {
            GatewayLog.CertificateRequirementFailed(_logger, problem);
        }
    }

    private static (string Cert, string Key, byte[] Hash) Read(TlsConfig files)
    {
        var cert = ServerCertificate.ReadFile(files.CertFile);
        var key = ServerCertificate.ReadFile(files.KeyFile);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(cert);
        sha.AppendData(key);
        return (System.Text.Encoding.UTF8.GetString(cert), System.Text.Encoding.UTF8.GetString(key), sha.GetHashAndReset());
    }

    private static string Format(DateTimeOffset value) => value.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public void Dispose() => _timer?.Dispose();
}
