using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Routing;
using McpTunnel.Gateway.Tls;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Upstream;

/// <summary>
/// The HTTP client towards upstreams for one configuration: its IP policy, its upstream trust, and the
/// connection pool built on them. A reload builds a new one, so a connection opened under the old policy or
/// trust is never handed to a request that arrives after it (the old client is disposed when its last request
/// ends, see <see cref="RoutingState"/>). <c>doctor</c> checks routes through the same class.
/// </summary>
public sealed class UpstreamClient : IDisposable
{
    /// <summary>
    /// How long a pooled upstream connection is reused. Without a lifetime a busy connection lives for ever;
    /// with one, the name is resolved and checked against the IP policy again at least this often.
    /// </summary>
    public static readonly TimeSpan PooledConnectionLifetime = TimeSpan.FromMinutes(5);

    /// <summary>Idle pooled connections are closed after this.</summary>
    public static readonly TimeSpan PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90);

    /// <summary>
    /// Builds the client. Throws <see cref="CertificateLoadException"/> when <c>upstream.tls.ca_file</c> cannot be
    /// used.
    /// </summary>
    public UpstreamClient(GatewayConfig config, GatewayMetrics metrics, ILogger logger, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null)
    {
        Policy = new UpstreamIpPolicy(config.Upstream);
        var trust = new UpstreamTrust(config.Upstream);
        Connector = new UpstreamConnector(Policy, config.Appliance.UpstreamConnectTimeout, metrics, logger, resolve, trust);
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            // No propagator keeps HttpClient's diagnostics handler out of the path: with one, every upstream request
            // would start an Activity of its own whenever any is current, sampled or not. The gateway's upstream span
            // and the traceparent it sends are ours (RequestTracing, ForwardedHeadersTransformer; decision 0016).
            ActivityHeadersPropagator = null,
            PooledConnectionIdleTimeout = PooledConnectionIdleTimeout,
            PooledConnectionLifetime = PooledConnectionLifetime,
            // Covers the TCP connect (bounded again inside the callback) plus an upstream TLS handshake.
            ConnectTimeout = config.Appliance.UpstreamConnectTimeout * 2,
            ConnectCallback = Connector.ConnectAsync,
            SslOptions =
            {
                // Never used: the connector returns an authenticated SslStream for every https upstream. Should the
                // handler ever do a handshake itself, it would check the Host header's name; refuse rather than that.
                RemoteCertificateValidationCallback = static (_, _, _, _) => false,
            },
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public UpstreamIpPolicy Policy { get; }

    public UpstreamConnector Connector { get; }

    /// <summary>What the forwarder sends requests with.</summary>
    public HttpMessageInvoker Invoker { get; }

    /// <summary>Closes every pooled connection; only once no request uses the client any more.</summary>
    public void Dispose() => Invoker.Dispose();
}
