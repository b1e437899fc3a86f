using Microsoft.Extensions.Logging;

namespace McpTunnel.Run;

/// <summary>Log lines of the run command (stable strings).</summary>
internal static partial class RunLog
{
    [LoggerMessage(3000, LogLevel.Error, "cannot start: {Reason}")]
    public static partial void CannotStart(ILogger logger, string reason);

    [LoggerMessage(3001, LogLevel.Error, "cannot listen on {Address}: {Reason}")]
    public static partial void CannotListen(ILogger logger, string address, string reason);

    [LoggerMessage(3002, LogLevel.Error, "cloudflared not found at {Binary}: install it there, set appliance.cloudflared.binary, or run with --no-connector if cloudflared runs elsewhere")]
    public static partial void NoCloudflared(ILogger logger, string binary);

    [LoggerMessage(3003, LogLevel.Error, "no tunnel token: expected the systemd credential tunnel-token, {File}, or TUNNEL_TOKEN; run mcp-tunnel setup init, or store the token from the Console with mcp-tunnel token set < token.txt")]
    public static partial void NoToken(ILogger logger, string file);

    [LoggerMessage(3004, LogLevel.Error, "reload rejected: {Problem}")]
    public static partial void ReloadProblem(ILogger logger, string problem);

    [LoggerMessage(3005, LogLevel.Error, "reload rejected; the current configuration stays in force")]
    public static partial void ReloadRejected(ILogger logger);

    [LoggerMessage(3006, LogLevel.Warning, "no routes configured: every request gets 502 No route configured for host; add routes to {Config} and reload")]
    public static partial void NoRoutes(ILogger logger, string config);
}
