using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Routing;
using McpTunnel.Gateway.Tls;
using McpTunnel.Gateway.Upstream;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace McpTunnel.Gateway.Forwarding;

/// <summary>
/// Handles one request that arrived inside inner TLS: route it by host and forward it with YARP's direct
/// forwarder, streaming both bodies (SSE is flushed per write) with no total timeout.
/// Expected failures come back from the forwarder as values and are turned into status codes here, in one
/// place: no route → 502 <c>No route configured for host</c>; IP policy → 502 with a body that names the
/// policy; refused/reset → 502; connect timeout → 504. Each body says which of these it is, so a caller (and
/// <c>probe</c>) can tell a policy refusal from a missing route without the gateway's log. The client's own mistakes are never counted or logged as upstream failures: a Host that is
/// not a valid host name → 400, a proxy <c>CONNECT</c> → 501, a malformed request body → 400 (debug line
/// <c>request refused: client error</c>, metric <c>mcp_tunnel_client_errors_total</c>).
/// </summary>
internal sealed class InnerRequestHandler : IDisposable
{
    private static readonly byte[] NoRouteBody = "No route configured for host\n"u8.ToArray();
    private static readonly byte[] BadHostBody = "Bad Request: the Host is not a valid host name\n"u8.ToArray();
    private static readonly byte[] ConnectBody = "Not Implemented: this gateway does not tunnel CONNECT\n"u8.ToArray();

    /// <summary>The body of a 502 for an upstream address outside <c>upstream.allowed_ips</c> (the address itself is only logged).</summary>
    internal const string IpPolicyBody = "Upstream address refused by the gateway's IP policy (upstream.allowed_ips)\n";

    internal const string UpstreamFailedBody = "Upstream request failed (see the gateway's log)\n";

    internal const string ConnectTimeoutBody = "Upstream did not accept the connection in time (appliance.upstream_connect_timeout)\n";

    internal const string UpstreamTimeoutBody = "Upstream timed out (see the gateway's log)\n";

    private volatile RoutingState _state;
    private readonly IHttpForwarder _forwarder;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>>? _resolve;
    private readonly ForwardedHeadersTransformer _transformer;

    public InnerRequestHandler(GatewayConfig config, IHttpForwarder forwarder, GatewayMetrics metrics, ILogger<InnerRequestHandler> logger, UpstreamResolver? resolver = null,
        Diagnostics.UpstreamTracing? tracing = null)
    {
        _transformer = tracing?.Propagate == true ? ForwardedHeadersTransformer.Propagating : ForwardedHeadersTransformer.Instance;
        _forwarder = forwarder;
        _metrics = metrics;
        _logger = logger;
        _resolve = resolver?.Resolve;
        _state = RoutingState.From(config, metrics, logger, _resolve);
        LogRoutes();
    }

    public RouteTable Routes => _state.Routes;

    /// <summary>The state requests start with now (tests watch an old one drain).</summary>
    internal RoutingState State => _state;

    /// <summary>
    /// Applies new routes, allowed IPs, upstream trust and upstream timeouts, with a new connection pool.
    /// Requests already running keep the state they started with; the next request uses the new one, and the
    /// old pool is closed when its last request ends. Throws <see cref="CertificateLoadException"/> for an
    /// unreadable <c>upstream.tls.ca_file</c>, in which case nothing changes.
    /// </summary>
    public void Reload(GatewayConfig config)
    {
        var next = RoutingState.From(config, _metrics, _logger, _resolve);
        var previous = Interlocked.Exchange(ref _state, next);
        previous.Retire();
        LogRoutes();
    }

    private void LogRoutes()
    {
        foreach (var route in _state.Routes.Routes)
        {
            GatewayLog.RouteConfigured(_logger, route.Name, route.DestinationPrefix);
        }
    }

    private RoutingState Acquire()
    {
        while (true)
        {
            var state = _state;
            if (state.TryAcquire())
            {
                return state;
            }

            // Retired and drained between the read and the acquire: a newer state is already published.
        }
    }

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        // The Host exactly as received (HTTP/2's :authority arrives here too). Request.Host would decode
        // punycode to Unicode, and throw for labels that do not decode.
        var host = request.Headers.Host.ToString();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        _metrics.RequestStarted();
        GatewayLog.RequestStarted(_logger, request.Method, host, request.Path.Value ?? "/");

        if (!RouteTable.IsValidHost(host))
        {
            await RefuseAsync(context, StatusCodes.Status400BadRequest, BadHostBody, "the Host is not a valid host name").ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsConnect(request.Method) && context.Features.Get<IHttpExtendedConnectFeature>() is not { IsExtendedConnect: true })
        {
            // A proxy tunnel request: there is nothing to forward it to (an HTTP/2 WebSocket, extended CONNECT, is forwarded).
            await RefuseAsync(context, StatusCodes.Status501NotImplemented, ConnectBody, "CONNECT is not supported").ConfigureAwait(false);
            return;
        }

        var state = Acquire();
        try
        {
            if (!state.Routes.TryResolve(host, out var route))
            {
                _metrics.NoRouteForHost();
                GatewayLog.NoRoute(_logger, RouteTable.NormalizeHost(host).ToString());
                await WriteAsync(context, StatusCodes.Status502BadGateway, NoRouteBody).ConfigureAwait(false);
                return;
            }

            // The peek only feeds the access line and the MCP call metric; without them nothing is copied.
            var logging = _logger.IsEnabled(LogLevel.Information);
            var activity = Diagnostics.RequestTracing.Start(request, route.Name);
            var capture = logging || activity is not null || _metrics.McpCallsObserved ? McpRequestPeek.Attach(request) : null;
            var upstreamSpan = Diagnostics.RequestTracing.StartUpstream(activity, request.Method, route.Upstream);
            var error = await _forwarder.SendAsync(context, route.DestinationPrefix, state.Upstream.Invoker, state.RequestConfig, _transformer).ConfigureAwait(false);
            Diagnostics.RequestTracing.FinishUpstream(upstreamSpan, context.Response.StatusCode, error == ForwarderError.None ? null : error.ToString());
            try
            {
                await HandleErrorAsync(context, route, error).ConfigureAwait(false);
            }
            finally
            {
                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                _metrics.RequestFinished(route.Name, request.Method, context.Response.StatusCode, elapsed);
                var (rpcMethod, tool) = McpRequestPeek.Read(capture);
                _metrics.McpCallFinished(route.Name, rpcMethod, tool, context.Response.StatusCode, elapsed);
                var bytesIn = capture?.BytesRead ?? request.ContentLength ?? -1;
                var session = logging || activity is not null ? SessionHash(request.Headers["Mcp-Session-Id"].ToString()) : "-";
                Diagnostics.RequestTracing.Finish(activity, context.Response.StatusCode, bytesIn, context.Response.ContentLength ?? -1, rpcMethod, tool, session);
                if (logging)
                {
                    GatewayLog.RequestFinished(_logger, route.Name, request.Method, request.Path.Value ?? "/", context.Response.StatusCode,
                        (long)elapsed.TotalMilliseconds, bytesIn, context.Response.ContentLength ?? -1, rpcMethod ?? "-", tool ?? "-",
                        route.DestinationPrefix, session, Diagnostics.RequestTracing.TraceId(activity, request));
                }
            }
        }
        finally
        {
            state.Release();
        }
    }

    /// <summary>A request that is the client's fault: answered here, counted as a client error, logged at debug only.</summary>
    private Task RefuseAsync(HttpContext context, int status, byte[] body, string reason)
    {
        _metrics.ClientError();
        GatewayLog.ClientError(_logger, status, reason);
        return WriteAsync(context, status, body);
    }

    private static async Task WriteAsync(HttpContext context, int status, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
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

        if (error is ForwarderError.RequestBodyClient or ForwarderError.UpgradeRequestClient or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeResponseClient)
        {
            // The client's side failed: a malformed request body (bad chunk size, shorter than its
            // Content-Length) or a client that stopped reading. Not the upstream's fault: 400 when an answer
            // can still be given, counted and logged as a client error.
            if (error == ForwarderError.RequestBodyClient && !context.Response.HasStarted)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
            }

            _metrics.ClientError();
            GatewayLog.ClientError(_logger, context.Response.StatusCode, Describe(error, exception));
            return;
        }

        var dial = ExceptionChain.Find<UpstreamDialException>(exception);
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

    private static string Describe(ForwarderError error, Exception? exception) =>
        exception is null ? error.ToString() : $"{error}: {ExceptionChain.Innermost(exception).Message}";

    public void Dispose() => _state.Retire();
}
