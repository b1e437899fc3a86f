using System.Diagnostics;
using System.Net.Security;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using McpTunnel.Configuration;

namespace McpTunnel.Operations;

/// <summary>
/// Does what the tunnel edge does to reach the gateway: a WebSocket to <c>listen_addr</c>, TLS inside its
/// byte stream with SNI = the route's host name, the certificate checked against the registered CA and
/// that host name. Used by <c>probe</c>, <c>demo</c>, <c>doctor</c>, the tests and the benchmarks.
/// </summary>
public static class EdgeClient
{
    /// <summary>The gateway's WebSocket listener as cloudflared dials it: <c>listen_addr</c> (every interface is dialled on 127.0.0.1).</summary>
    public static string GatewayUri(ListenAddress listen) => $"ws://{listen.DialAuthority}/";

    /// <summary>Opens one WebSocket and completes the inner TLS handshake on it.</summary>
    public static async Task<EdgeConnection> ConnectAsync(EdgeConnectOptions options, string serverName, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var started = Stopwatch.GetTimestamp();
        var webSocket = new ClientWebSocket();
        webSocket.Options.KeepAliveInterval = TimeSpan.Zero;
        try
        {
            await webSocket.ConnectAsync(options.Gateway, timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            webSocket.Dispose();
            throw;
        }

        var webSocketTime = Stopwatch.GetElapsedTime(started);
        var stream = WebSocketStream.Create(webSocket, WebSocketMessageType.Binary, ownsWebSocket: true);
        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
        string? verificationError = null;
        try
        {
            started = Stopwatch.GetTimestamp();
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = serverName,
                ApplicationProtocols = [.. options.ApplicationProtocols],
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (options.SkipVerification)
                    {
                        return true;
                    }

                    verificationError = CertificateVerifier.Verify(certificate as X509Certificate2, errors, options.TrustedCas);
                    return verificationError is null;
                },
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (AuthenticationException ex) when (verificationError is not null)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException($"the gateway's certificate was rejected: {verificationError}", ex);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new EdgeConnection(tls, webSocketTime, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// An HTTP handler whose every connection is a fresh WebSocket to the gateway; the handler itself runs
    /// the inner TLS on it (SNI and name check from the request's host, ALPN from the request's version), so
    /// request URIs are <c>https://route-host/path</c> exactly as Claude addresses them.
    /// <paramref name="onCertificate"/> sees each certificate the gateway presents.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(EdgeConnectOptions options, Action<X509Certificate2>? onCertificate = null) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        ActivityHeadersPropagator = null,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
        ConnectTimeout = options.ConnectTimeout,
        ConnectCallback = async (_, cancellationToken) =>
        {
            var webSocket = new ClientWebSocket();
            webSocket.Options.KeepAliveInterval = TimeSpan.Zero;
            try
            {
                await webSocket.ConnectAsync(options.Gateway, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                webSocket.Dispose();
                throw;
            }

            return WebSocketStream.Create(webSocket, WebSocketMessageType.Binary, ownsWebSocket: true);
        },
        SslOptions = new SslClientAuthenticationOptions
        {
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is X509Certificate2 presented)
                {
                    onCertificate?.Invoke(presented);
                }

                return options.SkipVerification || CertificateVerifier.Verify(certificate as X509Certificate2, errors, options.TrustedCas) is null;
            },
        },
    };

    /// <summary>A request for the edge handler, pinned to one HTTP version (ALPN offers only that one).</summary>
    public static HttpRequestMessage NewRequest(HttpMethod method, string host, string pathAndQuery, bool http2) => new(method, $"https://{host}{pathAndQuery}")
    {
        Version = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };
}
