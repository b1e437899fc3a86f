using System.Diagnostics;
using System.Net.Http.Headers;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Routing;
using McpTunnel.Gateway.Transport;
using McpTunnel.Gateway.Upstream;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Forwarder;

namespace McpTunnel.Gateway.Forwarding;

/// <summary>
/// Request headers towards the upstream (spec 9, question 10): end-to-end headers as received (YARP drops
/// the fixed hop-by-hop ones; the headers a <c>Connection</c> header names are dropped here, both ways, as
/// RFC 9110 section 7.6.1 asks and Go's ReverseProxy does), the original <c>Host</c> kept (the tunnel host name,
/// as Go's ReverseProxy does and as MCP OAuth metadata expects; in lower case and without a trailing dot, as
/// DNS names compare case-insensitively, so that one route keeps one upstream connection pool whatever spelling
/// clients use), <c>X-Forwarded-Proto: https</c> (the caller used inner TLS), <c>X-Forwarded-Host</c>, and
/// <c>X-Forwarded-For</c> with the WebSocket peer's address appended. The Host never decides which name an https
/// upstream's certificate is checked against: that is the route URL's host (<see cref="UpstreamConnector"/>).
/// <see cref="Propagating"/> also replaces the caller's <c>traceparent</c>/<c>tracestate</c> with the context of the
/// gateway's upstream span when the request is traced (decision 0016); an untraced request keeps the caller's as sent.
/// </summary>
internal sealed class ForwardedHeadersTransformer : HttpTransformer
{
    /// <summary>Trace context passes as the caller sent it.</summary>
    public static readonly ForwardedHeadersTransformer Instance = new(propagate: false);

    /// <summary>A traced request carries the gateway's upstream span as its <c>traceparent</c>.</summary>
    public static readonly ForwardedHeadersTransformer Propagating = new(propagate: true);

    private readonly bool _propagate;

    private ForwardedHeadersTransformer(bool propagate) => _propagate = propagate;

    /// <summary>
    /// Sends the headers of an event stream at once: a client opening an SSE stream (MCP's GET, or a POST
    /// answered with a stream) waits for them, and the first event may be minutes away. Other responses
    /// keep headers and first body bytes in one write.
    /// </summary>
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        if (proxyResponse is not null)
        {
            if (Activity.Current is { } span && RequestTracing.IsUpstreamSpan(span))
            {
                // Time to the upstream's response headers; the span itself ends with the body.
                span.AddEvent(new ActivityEvent("http.response.headers"));
            }

            foreach (var name in Nominated(proxyResponse.Headers.Connection))
            {
                httpContext.Response.Headers.Remove(name);
            }
        }

        if (copyBody && proxyResponse is { StatusCode: not System.Net.HttpStatusCode.SwitchingProtocols }
            && proxyResponse.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            await httpContext.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        return copyBody;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);

        var connection = httpContext.Request.Headers.Connection;
        var nominated = connection.Count == 0 ? [] : Nominated(connection).ToList();
        foreach (var name in nominated)
        {
            proxyRequest.Headers.Remove(name);
            proxyRequest.Content?.Headers.Remove(name);
        }

        // As received (Request.Host would decode punycode), minus what DNS ignores.
        var host = Canonical(httpContext.Request.Headers.Host.ToString());
        proxyRequest.Headers.Host = host;

        proxyRequest.Headers.Remove("X-Forwarded-Proto");
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");

        proxyRequest.Headers.Remove("X-Forwarded-Host");
        if (!string.IsNullOrEmpty(host))
        {
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Host", host);
        }

        if (_propagate && Activity.Current is { IdFormat: ActivityIdFormat.W3C } span && RequestTracing.IsUpstreamSpan(span))
        {
            proxyRequest.Headers.Remove("traceparent");
            proxyRequest.Headers.Remove("tracestate");
            proxyRequest.Headers.TryAddWithoutValidation("traceparent", span.Id);
            if (!string.IsNullOrEmpty(span.TraceStateString))
            {
                proxyRequest.Headers.TryAddWithoutValidation("tracestate", span.TraceStateString);
            }
        }

        var peer = httpContext.Features.Get<ITunnelFeature>()?.OuterRemoteAddress;
        if (peer is not null)
        {
            var prior = nominated.Contains("X-Forwarded-For", StringComparer.OrdinalIgnoreCase) ? "" : httpContext.Request.Headers["X-Forwarded-For"].ToString();
            proxyRequest.Headers.Remove("X-Forwarded-For");
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", prior.Length == 0 ? peer.ToString() : $"{prior}, {peer}");
        }
    }

    /// <summary>Lower case, no trailing dot before the port; the port kept. No allocation when already so.</summary>
    internal static string Canonical(string host)
    {
        var name = RouteTable.NormalizeHost(host);
        var port = host.AsSpan(name.Length);
        if (!port.StartsWith('.') && !name.ContainsAnyInRange('A', 'Z'))
        {
            return host;
        }

        return string.Concat(name.ToString().ToLowerInvariant(), port.TrimStart('.'));
    }

    /// <summary>
    /// The header names a <c>Connection</c> header lists, except the ones the forwarder manages itself (<c>Upgrade</c>
    /// carries a WebSocket upgrade through) and the connection options that name no header.
    /// </summary>
    private static IEnumerable<string> Nominated(StringValues connection)
    {
        foreach (var value in connection)
        {
            foreach (var token in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!IsManaged(token))
                {
                    yield return token;
                }
            }
        }
    }

    private static IEnumerable<string> Nominated(HttpHeaderValueCollection<string> connection)
    {
        foreach (var token in connection)
        {
            if (!IsManaged(token))
            {
                yield return token;
            }
        }
    }

    private static bool IsManaged(string token) =>
        token.Equals("upgrade", StringComparison.OrdinalIgnoreCase) || token.Equals("close", StringComparison.OrdinalIgnoreCase) || token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase);
}
