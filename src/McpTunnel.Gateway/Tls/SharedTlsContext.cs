using System.IO.Pipelines;
using System.Net.Security;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// Lets every inner handshake of one certificate use one OpenSSL <c>SSL_CTX</c>, as nginx does, while keeping the
/// gateway's AEAD-only cipher suites (decision 0020).
/// </summary>
/// <remarks>
/// .NET caches the server's <c>SSL_CTX</c> per certificate only when the options carry no
/// <see cref="CipherSuitesPolicy"/>; with one it builds a new context for every handshake (<c>SSL_CTX_new</c>, loading
/// the ciphers, groups and signature algorithms from OpenSSL 3's providers, then the certificate), and each connection
/// keeps its own context for life (about 8 KB). So the options go without a policy, and this class restricts the
/// cached context to <see cref="ModernCipherSuites"/> itself before the options are handed to any handshake:
/// <list type="number">
/// <item>an in-memory handshake with those options makes the runtime create and cache the context;</item>
/// <item>the context is read from that connection's <c>SSL</c> and restricted (<c>SSL_CTX_set_cipher_list</c>,
/// <c>SSL_CTX_set_ciphersuites</c>), and its stateful session cache is turned off (tickets still resume sessions, and
/// nothing per client is stored);</item>
/// <item>a second in-memory handshake must get the same context, which shows the runtime caches it;</item>
/// <item>the returned <see cref="SharedTlsContext"/> keeps the first connection open: a context in use is never
/// evicted from the runtime's cache, so the restricted one serves every handshake of this certificate.</item>
/// </list>
/// A context is only changed while no other handshake can use it (it was created by step 1 for a certificate that is
/// not yet published); one that is already restricted is left alone. Anything unexpected (a runtime that does not
/// cache, a renamed private field) returns null, and the caller keeps the policy: a context per handshake, as before.
/// </remarks>
internal sealed partial class SharedTlsContext
{
    private const int SslCtrlSetSessCacheMode = 44; // SSL_CTRL_SET_SESS_CACHE_MODE (ssl.h)
    private const nint SslSessCacheOff = 0; // SSL_SESS_CACHE_OFF (ssl.h)

    private static readonly HashSet<string> Restricted = [.. ModernCipherSuites.OpenSslTls12.Split(':'), .. ModernCipherSuites.OpenSslTls13.Split(':')];
    private static int _failureLogged;

    // Held, never read: while this connection is open its SSL holds the cached SSL_CTX, which the runtime does not
    // evict while it is in use (SafeHandleCache: only contexts nobody rents are cleaned up).
    private readonly SslStream _holder;
    private readonly SslStream _holderPeer;

    private SharedTlsContext(SslStream holder, SslStream holderPeer, nint context)
    {
        _holder = holder;
        _holderPeer = holderPeer;
        Context = context;
    }

    /// <summary>The shared <c>SSL_CTX*</c> (tests compare it with a connection's).</summary>
    internal nint Context { get; }

    /// <summary>True while the connection that keeps the context in the runtime's cache is open.</summary>
    internal bool IsHeld => _holder.IsAuthenticated && _holderPeer.IsAuthenticated;

    /// <summary>
    /// Makes the runtime cache one restricted <c>SSL_CTX</c> for <paramref name="options"/> (which must carry no cipher
    /// suites policy); null when that cannot be done, with the reason logged once.
    /// </summary>
    public static async Task<SharedTlsContext?> CreateAsync(SslServerAuthenticationOptions options, ILogger? logger)
    {
        if (options.CipherSuitesPolicy is not null)
        {
            throw new ArgumentException("the options must not carry a cipher suites policy (it turns the runtime's context cache off)", nameof(options));
        }

        SslStream? server = null, client = null;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            (server, client) = await HandshakeAsync(options, timeout.Token).ConfigureAwait(false);
            var context = ContextOf(server);
            if (!IsRestricted(context))
            {
                // Created by the handshake above for a certificate no handshake can use yet: nothing else reads it.
                if (SslCtxSetCipherList(context, ModernCipherSuites.OpenSslTls12) != 1 || SslCtxSetCipherSuites(context, ModernCipherSuites.OpenSslTls13) != 1)
                {
                    throw new InvalidOperationException("OpenSSL refused the cipher suites");
                }

                SslCtxCtrl(context, SslCtrlSetSessCacheMode, SslSessCacheOff, 0);
                if (!IsRestricted(context))
                {
                    throw new InvalidOperationException("the context's cipher suites did not change");
                }
            }

            var (second, secondPeer) = await HandshakeAsync(options, timeout.Token).ConfigureAwait(false);
            var again = ContextOf(second);
            await second.DisposeAsync().ConfigureAwait(false);
            await secondPeer.DisposeAsync().ConfigureAwait(false);
            if (again != context)
            {
                throw new InvalidOperationException("the runtime does not reuse the TLS context (is DOTNET_SYSTEM_NET_SECURITY_DISABLETLSRESUME set?)");
            }

            return new SharedTlsContext(server, client, context);
        }
        catch (Exception ex)
        {
            // Whatever went wrong, the inner TLS server must keep working: the caller falls back to the policy and a
            // context per handshake, which is slower but enforces the same suites.
            if (server is not null)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }

            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            if (logger is not null && Interlocked.Exchange(ref _failureLogged, 1) == 0)
            {
                SharingUnavailable(logger, ex.Message);
            }

            return null;
        }
    }

    /// <summary>The <c>SSL_CTX*</c> a connection's <c>SSL</c> uses (0 before its handshake).</summary>
    internal static nint ContextOf(SslStream tls)
    {
        if (OpenSslBufferRelease.SecurityContext(tls) is not { } context)
        {
            return 0;
        }

        var ssl = context as SafeHandle ?? throw new InvalidCastException($"SslStream's security context is a {context.GetType().Name}, not a SafeHandle");
        var added = false;
        try
        {
            ssl.DangerousAddRef(ref added);
            return SslGetSslCtx(ssl.DangerousGetHandle());
        }
        finally
        {
            if (added)
            {
                ssl.DangerousRelease();
            }
        }
    }

    /// <summary>True when the context offers exactly <see cref="ModernCipherSuites"/> (TLS 1.2 and 1.3 together).</summary>
    internal static bool IsRestricted(nint context)
    {
        var ciphers = SslCtxGetCiphers(context);
        if (ciphers == 0)
        {
            return false;
        }

        var count = OpenSslSkNum(ciphers);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            names.Add(Marshal.PtrToStringUTF8(SslCipherGetName(OpenSslSkValue(ciphers, i))) ?? "");
        }

        return names.SetEquals(Restricted);
    }

    /// <summary>A server and a client <see cref="SslStream"/> over an in-memory pipe pair, after their handshake.</summary>
    private static async Task<(SslStream Server, SslStream Client)> HandshakeAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken)
    {
        var expected = options.ServerCertificateContext?.TargetCertificate;
        var up = new Pipe();
        var down = new Pipe();
        var server = new SslStream(new Duplex(up.Reader.AsStream(), down.Writer.AsStream()));
        var client = new SslStream(new Duplex(down.Reader.AsStream(), up.Writer.AsStream()));
        try
        {
            await Task.WhenAll(
                server.AuthenticateAsServerAsync(options, cancellationToken),
                client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "shared-context.invalid",
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                    AllowTlsResume = false,
                    // Our own certificate, in this process (its chain is not the point: nothing is sent here).
                    RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && expected is not null && presented.GetRawCertData().AsSpan().SequenceEqual(expected.RawData),
                }, cancellationToken)).ConfigureAwait(false);
            return (server, client);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_get_SSL_CTX")]
    private static partial nint SslGetSslCtx(nint ssl);

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_CTX_set_cipher_list", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SslCtxSetCipherList(nint context, string ciphers);

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_CTX_set_ciphersuites", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SslCtxSetCipherSuites(nint context, string suites);

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_CTX_ctrl")]
    private static partial nint SslCtxCtrl(nint context, int cmd, nint larg, nint parg);

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_CTX_get_ciphers")]
    private static partial nint SslCtxGetCiphers(nint context);

    [LibraryImport("libssl.so.3", EntryPoint = "SSL_CIPHER_get_name")]
    private static partial nint SslCipherGetName(nint cipher);

    [LibraryImport("libcrypto.so.3", EntryPoint = "OPENSSL_sk_num")]
    private static partial int OpenSslSkNum(nint stack);

    [LibraryImport("libcrypto.so.3", EntryPoint = "OPENSSL_sk_value")]
    private static partial nint OpenSslSkValue(nint stack, int index);

    [LoggerMessage(1331, LogLevel.Warning, "tls context sharing unavailable: each inner handshake builds its own TLS context (slower handshakes, about 8 KB more per session) reason={Reason}")]
    private static partial void SharingUnavailable(ILogger logger, string reason);

    /// <summary>One end of an in-memory connection: reads from one pipe, writes to the other.</summary>
    private sealed class Duplex(Stream input, Stream output) : Stream
    {
        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => input.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => input.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => input.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Write(byte[] buffer, int offset, int count) => output.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => output.WriteAsync(buffer, cancellationToken);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => output.WriteAsync(buffer, offset, count, cancellationToken);

        public override void Flush() => output.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => output.FlushAsync(cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                input.Dispose();
                output.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
