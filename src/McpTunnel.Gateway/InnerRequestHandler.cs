using System.Net;
using System.Net.Http;
using System.Security.Authentication;
using McpTunnel.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace McpTunnel.Gateway;

/// <summary>
/// Handles one request that arrived inside inner TLS: route it by host and forward it with YARP's direct
/// forwarder, streaming both bodies (SSE is flushed per write) with no total timeout.
/// Expected failures come back from the forwarder as values and are turned into status codes here, in one
/// place: no route → 502 <c>No route configured for host</c>; IP policy → 502 with a body that names the
/// policy; refused/reset → 502; connect timeout → 504. Each body says which of these it is, so a caller (and
/// <c>probe</c>) can tell a policy refusal from a missing route without the gateway's log.
/// </summary>
internal sealed class InnerRequestHandler : IDisposable
{
    private static readonly byte[] NoRouteBody = "No route configured for host\n"u8.ToArray();

    /// <summary>The body of a 502 for an upstream address outside <c>upstream.allowed_ips</c> (the address itself is only logged).</summary>
    internal const string IpPolicyBody = "Upstream address refused by the gateway's IP policy (upstream.allowed_ips)\n";

    internal const string UpstreamFailedBody = "Upstream request failed (see the gateway's log)\n";

    internal const string ConnectTimeoutBody = "Upstream did not accept the connection in time (appliance.upstream_connect_timeout)\n";

    internal const string UpstreamTimeoutBody = "Upstream timed out (see the gateway's log)\n";

    private volatile RoutingState _state;
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _invoker;
    private readonly ForwarderRequestConfig _requestConfig;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;

    public InnerRequestHandler(GatewayConfig config, IHttpForwarder forwarder, GatewayMetrics metrics, ILogger<InnerRequestHandler> logger)
    {
        _state = RoutingState.From(config);
        _forwarder = forwarder;
        _metrics = metrics;
        _logger = logger;
        var connector = new UpstreamConnector(() => _state.Policy, config.Appliance.UpstreamConnectTimeout, metrics, logger);
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            // Covers the TCP connect (bounded again inside the callback) plus an upstream TLS handshake.
            ConnectTimeout = config.Appliance.UpstreamConnectTimeout * 2,
            ConnectCallback = connector.ConnectAsync,
            SslOptions =
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => _state.Trust.Validate(certificate, chain, errors),
            },
        };
        _invoker = new HttpMessageInvoker(handler, disposeHandler: true);
        var idle = config.Appliance.UpstreamIdleTimeout;
        _requestConfig = new ForwarderRequestConfig
        {
            // YARP's ActivityTimeout is an idle timeout; "none" is the longest a timer can wait.
            ActivityTimeout = idle == TimeSpan.Zero ? TimeSpan.FromDays(24) : idle,
        };

        LogRoutes();
    }

    public RouteTable Routes => _state.Routes;

    /// <summary>
    /// Applies new routes, allowed IPs and upstream trust. Requests already running keep what they started
    /// with; the next request uses the new state. Throws <see cref="CertificateLoadException"/> for an
    /// unreadable <c>upstream.tls.ca_file</c>, in which case nothing changes.
    /// </summary>
    public void Reload(GatewayConfig config)
    {
        _state = RoutingState.From(config);
        LogRoutes();
    }

    private void LogRoutes()
    {
        foreach (var route in _state.Routes.Routes)
        {
            GatewayLog.RouteConfigured(_logger, route.Name, route.DestinationPrefix);
        }
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var host = request.Host.Value ?? "";
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        _metrics.RequestStarted();
        GatewayLog.RequestStarted(_logger, request.Method, host, request.Path.Value ?? "/");

        if (!_state.Routes.TryResolve(host, out var route))
        {
            _metrics.NoRouteForHost();
            GatewayLog.NoRoute(_logger, RouteTable.NormalizeHost(host).ToString());
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.ContentLength = NoRouteBody.Length;
            await context.Response.Body.WriteAsync(NoRouteBody, context.RequestAborted).ConfigureAwait(false);
            return;
        }

        // The peek only feeds the access line; without it nothing is copied.
        var logging = _logger.IsEnabled(LogLevel.Information);
        var capture = logging ? McpRequestPeek.Attach(request) : null;
        var error = await _forwarder.SendAsync(context, route.DestinationPrefix, _invoker, _requestConfig, ForwardedHeadersTransformer.Instance).ConfigureAwait(false);
        try
        {
            await HandleErrorAsync(context, route, error).ConfigureAwait(false);
        }
        finally
        {
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            _metrics.RequestFinished(route.Name, request.Method, context.Response.StatusCode, elapsed);
            if (logging)
            {
                var (rpcMethod, tool) = McpRequestPeek.Read(capture);
                GatewayLog.RequestFinished(_logger, route.Name, request.Method, request.Path.Value ?? "/", context.Response.StatusCode,
                    (long)elapsed.TotalMilliseconds, capture?.BytesRead ?? request.ContentLength ?? -1, context.Response.ContentLength ?? -1, rpcMethod ?? "-", tool ?? "-",
                    route.DestinationPrefix, SessionHash(request.Headers["Mcp-Session-Id"].ToString()));
            }
        }
    }

    /// <summary>A short, stable, non-reversible tag for a session ID, so log lines of one session can be grouped.</summary>
    private static string SessionHash(string sessionId) =>
        sessionId.Length == 0 ? "-" : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sessionId)))[..12];

    private async Task HandleErrorAsync(HttpContext context, Route route, ForwarderError error)
    {
        if (error == ForwarderError.None)
        {
            return;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (error is ForwarderError.RequestCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.UpgradeRequestCanceled)
        {
            // The caller went away; the upstream call was cancelled with it. Nothing to answer.
            return;
        }

        var dial = Find<UpstreamDialException>(exception);
        var status = dial is UpstreamConnectTimeoutException || error == ForwarderError.RequestTimedOut
            ? StatusCodes.Status504GatewayTimeout
            : StatusCodes.Status502BadGateway;
        _metrics.UpstreamError();
        if (dial is not UpstreamIpRejectedException)
        {
            // A policy refusal was logged once already, as "IP validation failed" with the address and the policy.
            GatewayLog.UpstreamFailed(_logger, route.Name, route.DestinationPrefix, status, dial?.Message ?? Describe(error, exception));
        }

        if (!context.Response.HasStarted)
        {
            context.Response.StatusCode = status;
            var body = dial switch
            {
                UpstreamIpRejectedException => IpPolicyBody,
                UpstreamConnectTimeoutException => ConnectTimeoutBody,
                _ => status == StatusCodes.Status504GatewayTimeout ? UpstreamTimeoutBody : UpstreamFailedBody,
            };
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.Headers.XContentTypeOptions = "nosniff";
            context.Response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(body);
            try
            {
                await context.Response.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                // The caller went away; nothing more to say.
            }
        }
    }

    private static string Describe(ForwarderError error, Exception? exception)
    {
        var inner = exception;
        while (inner?.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner is null ? error.ToString() : $"{error}: {inner.Message}";
    }

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T match)
            {
                return match;
            }
        }

        return null;
    }

    public void Dispose() => _invoker.Dispose();
}
