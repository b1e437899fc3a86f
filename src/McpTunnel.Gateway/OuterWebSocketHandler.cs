using System.Net.WebSockets;
using McpTunnel.Configuration;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway;

/// <summary>
/// Serves <c>listen_addr</c>: a WebSocket upgrade on any path (or on <c>appliance.websocket_paths</c>) becomes
/// one inner connection; anything else gets <c>426 Upgrade Required</c> and never reaches a route (spec 9,
/// questions 1, 2 and 9). Binary and text messages both feed the byte stream; message boundaries mean nothing.
/// </summary>
internal sealed class OuterWebSocketHandler(
    InnerConnectionListener listener,
    ApplianceConfig settings,
    GatewayMetrics metrics,
    ILogger<OuterWebSocketHandler> logger)
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

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
        var connection = new TunnelConnection(webSocket, stream, remoteEndPoint, context.Connection.Id);
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
            metrics.WebSocketClosed();
            GatewayLog.WebSocketClosed(logger, remote);
        }
    }
}
