using System.Net;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// Every log line the gateway writes. The leading words of each message are stable: users and alerts
/// grep for them (<c>route configured</c>, <c>request started</c>, <c>no route for host</c>,
/// <c>IP validation failed</c>, <c>tls handshake failed</c>; spec 1.4 and 6.3). Nothing here ever carries
/// a secret, a header value or a payload.
/// </summary>
internal static partial class GatewayLog
{
    [LoggerMessage(1000, LogLevel.Information, "route configured route={Route} upstream={Upstream}")]
    public static partial void RouteConfigured(ILogger logger, string route, string upstream);

    [LoggerMessage(1001, LogLevel.Information, "gateway listening address={Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(1002, LogLevel.Warning, "listen_addr is reachable from the network: anything that can connect to it can send requests towards your MCP servers; use 127.0.0.1:8080 unless cloudflared runs on another host address={Address}")]
    public static partial void ListeningOnNetwork(ILogger logger, string address);

    [LoggerMessage(1003, LogLevel.Information, "gateway stopping; draining in-flight requests timeout={Timeout}")]
    public static partial void Draining(ILogger logger, string timeout);

    [LoggerMessage(1004, LogLevel.Information, "gateway stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(1005, LogLevel.Information, "connection limits max_connections={MaxConnections} max_sessions={MaxSessions} descriptor_limit={DescriptorLimit}")]
    public static partial void Limits(ILogger logger, int maxConnections, int maxSessions, string descriptorLimit);

    [LoggerMessage(1006, LogLevel.Warning, "appliance.max_connections plus max_sessions leave fewer than 256 of the process's descriptors for everything else; expect \"Too many open files\" before the limits act: lower them, or raise LimitNOFILE max_connections={MaxConnections} max_sessions={MaxSessions} descriptor_limit={DescriptorLimit}")]
    public static partial void LimitsExceedDescriptors(ILogger logger, int maxConnections, int maxSessions, long descriptorLimit);

    [LoggerMessage(1100, LogLevel.Debug, "websocket opened remote={Remote} path={Path}")]
    public static partial void WebSocketOpened(ILogger logger, string remote, string path);

    [LoggerMessage(1101, LogLevel.Debug, "websocket closed remote={Remote}")]
    public static partial void WebSocketClosed(ILogger logger, string remote);

    [LoggerMessage(1102, LogLevel.Debug, "rejected a plain HTTP request on the WebSocket listener method={Method} path={Path} status=426")]
    public static partial void NotWebSocket(ILogger logger, string method, string path);

    [LoggerMessage(1110, LogLevel.Warning, "connection limit reached; closed the oldest connections that carried no tunnel session, to admit new ones listener={Listener} limit={Limit} closed={Closed}")]
    public static partial void ConnectionLimitShed(ILogger logger, string listener, int limit, long closed);

    [LoggerMessage(1111, LogLevel.Warning, "connection limit reached and every connection carries a tunnel session; refused new connections listener={Listener} limit={Limit} refused={Refused}")]
    public static partial void ConnectionLimitRefused(ILogger logger, string listener, int limit, long refused);

    [LoggerMessage(1112, LogLevel.Warning, "tunnel session limit reached; closed the oldest idle sessions, to admit new ones limit={Limit} closed={Closed}")]
    public static partial void SessionLimitShed(ILogger logger, int limit, long closed);

    [LoggerMessage(1113, LogLevel.Warning, "tunnel session limit reached and every session is busy; refused new WebSockets with 503 limit={Limit} refused={Refused}")]
    public static partial void SessionLimitRefused(ILogger logger, int limit, long refused);

    [LoggerMessage(1114, LogLevel.Information, "closed connections that did not complete a WebSocket upgrade in time timeout={Timeout} closed={Closed}")]
    public static partial void UpgradeTimedOut(ILogger logger, string timeout, long closed);

    [LoggerMessage(1115, LogLevel.Information, "closed tunnel sessions that did not complete inner TLS and a first request in time timeout={Timeout} closed={Closed}")]
    public static partial void FirstRequestTimedOut(ILogger logger, string timeout, long closed);

    [LoggerMessage(1103, LogLevel.Warning, "websocket text message refused: the tunnel carries TLS in binary messages only; closed with 1003 remote={Remote} refused={Refused}")]
    public static partial void TextMessageRefused(ILogger logger, string remote, long refused);

    [LoggerMessage(1200, LogLevel.Warning, "tls handshake failed: {Reason}")]
    public static partial void TlsHandshakeFailed(ILogger logger, string reason);

    [LoggerMessage(1202, LogLevel.Warning, "tls handshake failed: {Reason} suppressed={Suppressed}")]
    public static partial void TlsHandshakeFailedRepeatedly(ILogger logger, string reason, long suppressed);

    [LoggerMessage(1201, LogLevel.Debug, "tls client hello sni={ServerName}")]
    public static partial void ClientHello(ILogger logger, string serverName);

    [LoggerMessage(1300, LogLevel.Information, "request started method={Method} host={Host} path={Path}")]
    public static partial void RequestStarted(ILogger logger, string method, string host, string path);

    [LoggerMessage(1304, LogLevel.Information, "request finished route={Route} method={Method} path={Path} status={Status} duration_ms={DurationMs} bytes_in={BytesIn} bytes_out={BytesOut} rpc={Rpc} tool={Tool} upstream={Upstream} session={Session} trace_id={TraceId}")]
    public static partial void RequestFinished(ILogger logger, string route, string method, string path, int status, long durationMs, long bytesIn, long bytesOut, string rpc, string tool, string upstream, string session, string traceId);

    [LoggerMessage(1305, LogLevel.Information, "configuration reloaded routes={Routes}")]
    public static partial void Reloaded(ILogger logger, int routes);

    [LoggerMessage(1306, LogLevel.Warning, "configuration change needs a restart to apply field={Field}")]
    public static partial void NeedsRestart(ILogger logger, string field);

    [LoggerMessage(1301, LogLevel.Warning, "no route for host host={Host}")]
    public static partial void NoRoute(ILogger logger, string host);

    [LoggerMessage(1302, LogLevel.Warning, "IP validation failed: {Ip} is not a private address host={Host} allowed={Allowed}")]
    public static partial void IpValidationFailed(ILogger logger, IPAddress ip, string host, string allowed);

    [LoggerMessage(1303, LogLevel.Warning, "upstream request failed route={Route} upstream={Upstream} status={Status} error={Error}")]
    public static partial void UpstreamFailed(ILogger logger, string route, string upstream, int status, string error);

    [LoggerMessage(1320, LogLevel.Debug, "request refused: client error status={Status} reason={Reason}")]
    public static partial void ClientError(ILogger logger, int status, string reason);

    [LoggerMessage(1400, LogLevel.Information, "certificate loaded subject={Subject} not_after={NotAfter} sha256={Fingerprint}")]
    public static partial void CertificateLoaded(ILogger logger, string subject, string notAfter, string fingerprint);

    [LoggerMessage(1401, LogLevel.Information, "certificate reloaded subject={Subject} not_after={NotAfter} sha256={Fingerprint}")]
    public static partial void CertificateReloaded(ILogger logger, string subject, string notAfter, string fingerprint);

    [LoggerMessage(1402, LogLevel.Warning, "certificate files changed but cannot be loaded yet; keeping the current certificate and retrying reason={Reason}")]
    public static partial void CertificateReloadPending(ILogger logger, string reason);

    [LoggerMessage(1403, LogLevel.Error, "certificate reload failed; still serving the previous certificate reason={Reason}")]
    public static partial void CertificateReloadFailed(ILogger logger, string reason);

    [LoggerMessage(1405, LogLevel.Warning, "server certificate fails a tunnel requirement; the edge will refuse it: {Problem}")]
    public static partial void CertificateRequirementFailed(ILogger logger, string problem);

    [LoggerMessage(1404, LogLevel.Warning, "server certificate expires within 7 days or has expired; run mcp-tunnel setup renew-cert not_after={NotAfter}")]
    public static partial void CertificateExpiring(ILogger logger, string notAfter);
}
