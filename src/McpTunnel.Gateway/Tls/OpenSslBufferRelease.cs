using System.Net.Security;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Tls;

/// <summary>
/// Lets OpenSSL free an idle inner connection's record buffers (<c>SSL_MODE_RELEASE_BUFFERS</c>, which nginx sets on
/// every connection). Without it each TLS connection keeps a read and a write buffer of about 17 KB each for as long
/// as it lives, busy or not; with it an idle tunnel session measured 13-16 KB smaller (docs/benchmarks.md, issue 12). .NET does
/// not set the mode and has no API for it, so the <c>SSL*</c> is read from the <see cref="SslStream"/>'s private
/// security context (decision 0017). The runtime is compiled into the binary, so the field cannot change under a
/// built binary; a runtime update that renames it is caught by OpenSslBufferReleaseTests, and in the product the
/// failure is logged once and the connection simply keeps its buffers.
/// </summary>
internal static partial class OpenSslBufferRelease
{
    private const int SslCtrlMode = 33; // SSL_CTRL_MODE (ssl.h): SSL_set_mode / SSL_get_mode
    private const nint SslModeReleaseBuffers = 0x10; // SSL_MODE_RELEASE_BUFFERS (ssl.h)

    private static int _failureLogged;

    /// <summary>A connection middleware for the inner endpoint; runs right after Kestrel's TLS middleware.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(ILogger logger) =>
        next => connection =>
        {
            if (connection.Features.Get<ISslStreamFeature>()?.SslStream is { } tls)
            {
                try
                {
                    Enable(tls);
                }
                catch (ObjectDisposedException)
                {
                    // The connection was aborted right after its handshake; nothing to release.
                }
                catch (Exception ex) when (ex is MissingMemberException or TypeLoadException or DllNotFoundException or EntryPointNotFoundException or InvalidCastException)
                {
                    if (Interlocked.Exchange(ref _failureLogged, 1) == 0)
                    {
                        ReleaseUnavailable(logger, ex.Message);
                    }
                }
            }

            return next(connection);
        };

    /// <summary>Sets <c>SSL_MODE_RELEASE_BUFFERS</c> on the connection's <c>SSL</c>; true when it is set afterwards.</summary>
    internal static bool Enable(SslStream tls) => Control(tls, SslModeReleaseBuffers);

    /// <summary>True when the connection's <c>SSL</c> has <c>SSL_MODE_RELEASE_BUFFERS</c> (tests).</summary>
    internal static bool IsEnabled(SslStream tls) => Control(tls, 0);

    /// <summary>ORs <paramref name="mode"/> into the SSL's mode (0 only reads it); true when the release bit is set.</summary>
    private static bool Control(SslStream tls, nint mode)
    {
        var context = SecurityContext(tls);
        if (context is null)
        {
            return false; // no handshake yet
        }

        // Anything but a SafeHandle over SSL* means a runtime this code does not know: reported, not guessed at.
        var ssl = context as SafeHandle ?? throw new InvalidCastException($"SslStream's security context is a {context.GetType().Name}, not a SafeHandle");
        if (ssl.IsInvalid || ssl.IsClosed)
        {
            return false;
        }

        var added = false;
        try
        {
            ssl.DangerousAddRef(ref added);
            return (SslCtrl(ssl.DangerousGetHandle(), SslCtrlMode, mode, 0) & SslModeReleaseBuffers) != 0;
        }
        finally
        {
            if (added)
            {
                ssl.DangerousRelease();
            }
        }
    }

    // SslStream's OpenSSL connection: a SafeSslHandle (a SafeHandle over SSL*) in a field typed as the internal
    // SafeDeleteSslContext. UnsafeAccessor cannot return a field of an inaccessible type (the runtime refuses
    // UnsafeAccessorType on a field's ref return), so this is reflection with constant names, which the AOT compiler
    // resolves at build time (it keeps this one field's metadata; no trim warning).
    private static readonly FieldInfo? SecurityContextField = typeof(SslStream).GetField("_securityContext", BindingFlags.Instance | BindingFlags.NonPublic);

    internal static object? SecurityContext(SslStream stream) =>
        (SecurityContextField ?? throw new MissingFieldException(nameof(SslStream), "_securityContext")).GetValue(stream);

    // The libssl .NET itself loads on the supported systems (OpenSSL 3: Debian 12, RHEL 9).
    [LibraryImport("libssl.so.3", EntryPoint = "SSL_ctrl")]
    private static partial nint SslCtrl(nint ssl, int cmd, nint larg, nint parg);

    [LoggerMessage(1330, LogLevel.Warning, "tls buffer release unavailable: idle sessions keep their TLS record buffers (about 34 KB each) reason={Reason}")]
    private static partial void ReleaseUnavailable(ILogger logger, string reason);
}
