using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Tls;
using McpTunnel.Gateway.Upstream;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace McpTunnel.Gateway.Routing;

/// <summary>
/// Everything a reload can change, swapped as one object so a request never sees half of it: the routes, the
/// upstream client (IP policy, trust, connection pool) and the forwarder settings.
/// </summary>
/// <remarks>
/// Lifetime: the state starts with one reference, the handler's. Each request takes one for as long as it
/// runs (<see cref="TryAcquire"/> / <see cref="Release"/>); a reload drops the handler's (<see cref="Retire"/>).
/// The last release disposes the upstream client and with it every pooled connection, so connections opened
/// under an old policy are closed as soon as the requests that were using them are done.
/// </remarks>
internal sealed class RoutingState
{
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _references = 1;

    public RoutingState(RouteTable routes, UpstreamClient upstream, ForwarderRequestConfig requestConfig)
    {
        Routes = routes;
        Upstream = upstream;
        RequestConfig = requestConfig;
    }

    public RouteTable Routes { get; }

    public UpstreamClient Upstream { get; }

    public ForwarderRequestConfig RequestConfig { get; }

    /// <summary>Completes when the upstream client has been disposed: retired and no request left.</summary>
    public Task Drained => _drained.Task;

    /// <summary>
    /// Throws <see cref="CertificateLoadException"/> when <c>upstream.tls.ca_file</c> cannot be used.
    /// </summary>
    public static RoutingState From(GatewayConfig config, GatewayMetrics metrics, ILogger logger, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
    {
        var idle = config.Appliance.UpstreamIdleTimeout;
        return new RoutingState(
            new RouteTable(config.Routes, config.TunnelDomain),
            new UpstreamClient(config, metrics, logger, resolve),
            new ForwarderRequestConfig
            {
                // YARP's ActivityTimeout is an idle timeout; "none" is the longest a timer can wait.
                ActivityTimeout = idle == TimeSpan.Zero ? TimeSpan.FromDays(24) : idle,
            });
    }

    /// <summary>Takes a reference for one request; false when the state was retired and drained meanwhile.</summary>
    public bool TryAcquire()
    {
        var current = Volatile.Read(ref _references);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Upstream.Dispose();
            _drained.TrySetResult();
        }
    }

    /// <summary>Called once when a reload replaces this state.</summary>
    public void Retire() => Release();
}
