using System.Net.WebSockets;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// Serves <c>listen_addr</c>: a WebSocket upgrade on any path (or on <c>appliance.websocket_paths</c>) becomes
/// one inner connection; anything else gets <c>426 Upgrade Required</c> and never reaches a route (spec 9,
/// questions 1, 2 and 9). Binary messages feed the byte stream and their boundaries mean nothing; a text message
/// closes the WebSocket with 1003 (decision 0003, question 2). Before a WebSocket is accepted it must be admitted as
/// a tunnel session (<c>appliance.max_sessions</c>); when every session is busy the answer is 503.
/// </summary>
internal sealed class OuterWebSocketHandler(
    InnerConnectionListener listener,
    ApplianceConfig settings,
    GatewayMetrics metrics,
    TimeProvider time,
    ILogger<OuterWebSocketHandler> logger)
{
    private readonly LogThrottle _textRefusedLog = new(time);

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    private static readonly byte[] Busy =
        "503 Service Unavailable: mcp-tunnel has reached appliance.max_sessions and every tunnel session is busy; try again later.\n"u8.ToArray();

    public async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            GatewayLog.NotWebSocket(logger, context.Request.Method, context.Request.Path.Value ?? "/");
            context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            context.Response.Headers.Upgrade = "websocket";
            context.Response.Headers.Connection = "Upgrade";
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(
                "426 Upgrade Required: this is the mcp-tunnel WebSocket listener for cloudflared; TLS and HTTP run inside the WebSocket.\n",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        if (settings.WebSocketPaths.Count > 0 && !settings.WebSocketPaths.Contains(context.Request.Path.Value ?? "/", StringComparer.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var outer = context.Features.Get<OuterConnection>();
        if (outer is not null && !outer.Governor.TryStartSession(outer))
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "5";
            context.Response.Headers.Connection = "close";
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.ContentLength = Busy.Length;
            await context.Response.Body.WriteAsync(Busy, context.RequestAborted).ConfigureAwait(false);
            return;
        }

        var remote = context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        using var webSocket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = settings.WebSocketKeepAlive,
            DangerousEnableCompression = false,
        }).ConfigureAwait(false);

        GatewayLog.WebSocketOpened(logger, remote, context.Request.Path.Value ?? "/");
        metrics.WebSocketOpened();
        var stream = WebSocketStream.Create(webSocket, WebSocketMessageType.Binary, CloseTimeout);
        var remoteEndPoint = context.Connection.RemoteIpAddress is { } ip ? new System.Net.IPEndPoint(ip, context.Connection.RemotePort) : null;
        var connection = new TunnelConnection(webSocket, stream, remoteEndPoint, context.Connection.Id, outer);
        try
        {
            connection.Start();
            if (!listener.TryEnqueue(connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return;
            }

            using (context.RequestAborted.Register(static state => ((TunnelConnection)state!).Abort(new ConnectionAbortedException("the WebSocket was closed")), connection))
            {
                await connection.Completed.ConfigureAwait(false);
            }
        }
        finally
        {
            if (connection.RefusedText && _textRefusedLog.Hit() is var refused and > 0)
            {
                GatewayLog.TextMessageRefused(logger, remote, refused);
            }

            metrics.WebSocketClosed();
            GatewayLog.WebSocketClosed(logger, remote);
        }
    }
}
