using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using McpTunnel.Gateway.Diagnostics;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Upstream;

/// <summary>
/// The only way the gateway opens a connection to an upstream (the <c>ConnectCallback</c> of its
/// <see cref="SocketsHttpHandler"/>, and <c>doctor</c>'s route check).
/// </summary>
/// <remarks>
/// 1. Resolve A records only (IPv4); an IP literal is taken as is.
/// 2. Check every address against <see cref="UpstreamIpPolicy"/>. One disallowed address rejects the whole
///    name: a host that resolves partly outside the allowed networks is misconfigured or under attack.
/// 3. Dial the checked addresses in order, each within the connect timeout. The socket connects to the
///    address that was checked, so a second DNS answer (rebinding) can never change the destination.
/// 4. For an <c>https://</c> route, do the TLS handshake here, with the route URL's host as the server name
///    (SNI, and the name the certificate must carry; an IP literal is matched against the IP SANs and sends
///    no SNI) and <see cref="UpstreamTrust"/> as the only trust. <see cref="SocketsHttpHandler"/> takes an
///    authenticated <see cref="SslStream"/> from the callback as it is; left to itself it would take the
///    server name from the forwarded <c>Host</c> header (the tunnel host name, chosen by the client).
/// </remarks>
public sealed class UpstreamConnector
{
    private static readonly List<SslApplicationProtocol> Http2AndHttp11 = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    private static readonly List<SslApplicationProtocol> Http2Only = [SslApplicationProtocol.Http2];

    private readonly UpstreamIpPolicy _policy;
    private readonly UpstreamTrust? _trust;
    private readonly TimeSpan _connectTimeout;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;
    private readonly Func<IPEndPoint, CancellationToken, ValueTask<Stream>> _dial;
    private readonly TimeProvider _time;

    /// <param name="policy">The IP policy every resolved address must pass (<c>upstream.allowed_ips</c>).</param>
    /// <param name="connectTimeout">How long one TCP connect may take (<c>appliance.upstream_connect_timeout</c>).</param>
    /// <param name="metrics">Where refusals are counted.</param>
    /// <param name="logger">Where refusals are logged (<c>IP validation failed</c>).</param>
    /// <param name="trust">The trust for https upstreams; null refuses every https upstream.</param>
    /// <param name="resolve">The name lookup (tests inject one); the default asks the system resolver for A records.</param>
    /// <param name="time">The clock of the connect timeout (tests use a fake one).</param>
    /// <param name="dial">
    /// The TCP connect of step 3 to one checked address; the default is <see cref="DialSocketAsync"/>. Tests inject one to
    /// see whether, and where, a connection was attempted.
    /// </param>
    public UpstreamConnector(UpstreamIpPolicy policy, TimeSpan connectTimeout, GatewayMetrics metrics, ILogger logger,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null, UpstreamTrust? trust = null, TimeProvider? time = null,
        Func<IPEndPoint, CancellationToken, ValueTask<Stream>>? dial = null)
    {
        _dial = dial ?? DialSocketAsync;
        _time = time ?? TimeProvider.System;
        _policy = policy;
        _trust = trust;
        _connectTimeout = connectTimeout;
        _metrics = metrics;
        _logger = logger;
        _resolve = resolve ?? ((host, cancellationToken) => Dns.GetHostAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken));
    }

    public UpstreamIpPolicy Policy => _policy;

    /// <summary>The <see cref="SocketsHttpHandler.ConnectCallback"/> entry point.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        var https = request.RequestUri?.Scheme == Uri.UriSchemeHttps;
        var dial = RequestTracing.StartDial(host, port, https);
        try
        {
            var stream = await ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            var peer = dial is not null && stream is NetworkStream { Socket.RemoteEndPoint: IPEndPoint remote } ? remote.Address : null;
            if (https)
            {
                // The pool key's host is the request URI's, which is the route's (the forwarder builds it from the
                // route's destination prefix); the Host header plays no part.
                stream = await AuthenticateAsync(stream, host, port, ApplicationProtocols(request), cancellationToken).ConfigureAwait(false);
            }

            RequestTracing.FinishDial(dial, peer, failure: null);
            return stream;
        }
        catch (Exception ex)
        {
            RequestTracing.FinishDial(dial, peer: null, ex);
            throw;
        }
    }

    /// <summary>
    /// The ALPN list <see cref="SocketsHttpHandler"/> itself would offer for this request (its
    /// <c>GetSslOptionsForRequest</c>): the handler decides between HTTP/2 and HTTP/1.1 from what we negotiate, and
    /// for a request it sends over HTTP/1.1 only, a connection that negotiated h2 would be unusable.
    /// </summary>
    internal static List<SslApplicationProtocol>? ApplicationProtocols(HttpRequestMessage request)
    {
        if (request.Version.Major >= 2 && request.VersionPolicy != HttpVersionPolicy.RequestVersionOrLower)
        {
            return Http2Only;
        }

        return request.Version.Major >= 2 || request.VersionPolicy == HttpVersionPolicy.RequestVersionOrHigher ? Http2AndHttp11 : null;
    }

    /// <summary>Step 1: the addresses of <paramref name="host"/> (an IP literal is its own).</summary>
    public async Task<IPAddress[]> LookupAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            return [literal];
        }

        IPAddress[] addresses;
        try
        {
            addresses = await _resolve(host, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new UpstreamDialException($"lookup {host}: {ex.Message}", ex);
        }

        return addresses.Length == 0
            ? throw new UpstreamDialException($"lookup {host}: no IPv4 address (upstreams are dialled over IPv4 only)")
            : addresses;
    }

    /// <summary>Step 2: throws <see cref="UpstreamIpRejectedException"/> (counted and logged) unless the policy allows every address.</summary>
    public void CheckPolicy(string host, IPAddress[] addresses)
    {
        foreach (var address in addresses)
        {
            if (address.AddressFamily != AddressFamily.InterNetwork || !_policy.IsAllowed(address))
            {
                _metrics.IpRejected();
                GatewayLog.IpValidationFailed(_logger, address, host, _policy.Description);
                throw new UpstreamIpRejectedException(address);
            }
        }
    }

    /// <summary>A TCP connection to <paramref name="host"/>, after the IP policy allowed every address it has (steps 1 to 3).</summary>
    public async ValueTask<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var addresses = await LookupAsync(host, cancellationToken).ConfigureAwait(false);
        CheckPolicy(host, addresses);
        // Our own deadline is a token of its own, so "it fired" can be told apart from the caller's cancellation.
        using var deadline = new CancellationTokenSource(_connectTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        Exception? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await _dial(new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                // Even when the caller's token fired as well (the HTTP handler's own, longer ConnectTimeout on a
                // starved host): ours is the earlier deadline, so this is a connect timeout. A caller that went
                // away is recognised by the forwarder from the request's own token, whatever we throw here.
                throw new UpstreamConnectTimeoutException($"dial tcp {address}:{port}: i/o timeout after {_connectTimeout.TotalSeconds:0.#}s");
            }
            catch (SocketException ex)
            {
                last = new UpstreamDialException($"dial tcp {address}:{port}: connect: {Describe(ex.SocketErrorCode)}", ex);
            }
        }

        throw last!;
    }

    /// <summary>The production dial: a TCP socket (no Nagle delay) connected to exactly <paramref name="endpoint"/>.</summary>
    public static async ValueTask<Stream> DialSocketAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Step 4: TLS over <paramref name="stream"/> with <paramref name="host"/> (the route URL's host) as the server
    /// name, <see cref="UpstreamTrust"/> as the trust and the given ALPN list. Takes ownership of the stream.
    /// </summary>
    public async ValueTask<SslStream> AuthenticateAsync(Stream stream, string host, int port, List<SslApplicationProtocol>? applicationProtocols, CancellationToken cancellationToken)
    {
        var trust = _trust;
        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                // An IP literal goes in without brackets: SslStream then sends no SNI (RFC 6066 section 3) and
                // matches the certificate's IP SANs.
                TargetHost = host.Trim('[', ']'),
                ApplicationProtocols = applicationProtocols,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => trust is not null && trust.Validate(certificate, chain, errors),
            }, cancellationToken).ConfigureAwait(false);
            return tls;
        }
        catch (AuthenticationException ex)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new UpstreamTlsException($"tls handshake with {host}:{port}: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new UpstreamTlsException($"tls handshake with {host}:{port}: {ex.Message}", ex);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.ConnectionReset => "connection reset by peer",
        SocketError.HostUnreachable => "no route to host",
        SocketError.NetworkUnreachable => "network is unreachable",
        SocketError.TimedOut => "connection timed out",
        _ => error.ToString(),
    };
}
