using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway;

/// <summary>
/// The only way the gateway opens a connection to an upstream (the <c>ConnectCallback</c> of its
/// <see cref="SocketsHttpHandler"/>).
/// <remarks>
/// 1. Resolve A records only (IPv4); an IP literal is taken as is.
/// 2. Check every address against <see cref="UpstreamIpPolicy"/>. One disallowed address rejects the whole
///    name: a host that resolves partly outside the allowed networks is misconfigured or under attack.
/// 3. Dial the checked addresses in order, each within the connect timeout. The socket connects to the
///    address that was checked, so a second DNS answer (rebinding) can never change the destination.
/// </remarks>
/// </summary>
internal sealed class UpstreamConnector(
    Func<UpstreamIpPolicy> policies,
    TimeSpan connectTimeout,
    GatewayMetrics metrics,
    ILogger logger,
    Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null,
    TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve =
        resolve ?? ((host, cancellationToken) => Dns.GetHostAddressesAsync(host, AddressFamily.InterNetwork, cancellationToken));

    /// <summary>The <see cref="SocketsHttpHandler.ConnectCallback"/> entry point.</summary>
    public ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken);

    public UpstreamConnector(UpstreamIpPolicy policy, TimeSpan connectTimeout, GatewayMetrics metrics, ILogger logger, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null, TimeProvider? time = null)
        : this(() => policy, connectTimeout, metrics, logger, resolve, time)
    {
    }

    public async ValueTask<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var policy = policies();
        IPAddress[] addresses;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await _resolve(host, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new UpstreamDialException($"lookup {host}: {ex.Message}", ex);
            }

            if (addresses.Length == 0)
            {
                throw new UpstreamDialException($"lookup {host}: no IPv4 address (upstreams are dialled over IPv4 only)");
            }
        }

        foreach (var address in addresses)
        {
            if (address.AddressFamily != AddressFamily.InterNetwork || !policy.IsAllowed(address))
            {
                metrics.IpRejected();
                GatewayLog.IpValidationFailed(logger, address, host, policy.Description);
                throw new UpstreamIpRejectedException(address);
            }
        }

        // Our own deadline is a token of its own, so "it fired" can be told apart from the caller's cancellation.
        using var deadline = new CancellationTokenSource(connectTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                // Even when the caller's token fired as well (the HTTP handler's own, longer ConnectTimeout on a
                // starved host): ours is the earlier deadline, so this is a connect timeout. A caller that went
                // away is recognised by the forwarder from the request's own token, whatever we throw here.
                socket.Dispose();
                throw new UpstreamConnectTimeoutException($"dial tcp {address}:{port}: i/o timeout after {connectTimeout.TotalSeconds:0.#}s");
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = new UpstreamDialException($"dial tcp {address}:{port}: connect: {Describe(ex.SocketErrorCode)}", ex);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw last!;
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

/// <summary>The upstream could not be reached (lookup failed, refused, unreachable): the caller gets 502.</summary>
public class UpstreamDialException : Exception
{
    public UpstreamDialException(string message) : base(message) { }

    public UpstreamDialException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>The TCP connect did not finish within <c>appliance.upstream_connect_timeout</c>: the caller gets 504.</summary>
public sealed class UpstreamConnectTimeoutException(string message) : UpstreamDialException(message);

/// <summary>The upstream resolved to an address outside <c>upstream.allowed_ips</c>: the caller gets 502.</summary>
public sealed class UpstreamIpRejectedException(IPAddress address)
    : UpstreamDialException($"IP validation failed: {address} is not a private address")
{
    public IPAddress Address { get; } = address;
}
