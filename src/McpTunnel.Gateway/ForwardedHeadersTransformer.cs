using System.Net.Http;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace McpTunnel.Gateway;

/// <summary>
/// Request headers towards the upstream (spec 9, question 10): end-to-end headers as received (YARP drops
/// the hop-by-hop ones), the original <c>Host</c> kept (the tunnel host name, as Go's ReverseProxy does and
/// as MCP OAuth metadata expects), <c>X-Forwarded-Proto: https</c> (the caller used inner TLS),
/// <c>X-Forwarded-Host</c>, and <c>X-Forwarded-For</c> with the WebSocket peer's address appended.
/// </summary>
internal sealed class ForwardedHeadersTransformer : HttpTransformer
{
    public static readonly ForwardedHeadersTransformer Instance = new();

    /// <summary>
    /// Sends the headers of an event stream at once: a client opening an SSE stream (MCP's GET, or a POST
    /// answered with a stream) waits for them, and the first event may be minutes away. Other responses
    /// keep headers and first body bytes in one write.
    /// </summary>
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
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

        var host = httpContext.Request.Host.Value;
        proxyRequest.Headers.Host = host;

        proxyRequest.Headers.Remove("X-Forwarded-Proto");
        proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");

        proxyRequest.Headers.Remove("X-Forwarded-Host");
        if (!string.IsNullOrEmpty(host))
        {
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Host", host);
        }

        var peer = httpContext.Features.Get<ITunnelFeature>()?.OuterRemoteAddress;
        if (peer is not null)
        {
            var prior = httpContext.Request.Headers["X-Forwarded-For"].ToString();
            proxyRequest.Headers.Remove("X-Forwarded-For");
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", prior.Length == 0 ? peer.ToString() : $"{prior}, {peer}");
        }
    }
}
