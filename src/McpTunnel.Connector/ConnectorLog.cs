using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>The supervisor's log lines (stable strings; never a token).</summary>
internal static partial class ConnectorLog
{
    [LoggerMessage(2000, LogLevel.Information, "cloudflared starting binary={Binary} url={Url} metrics={Metrics} token={TokenSource}")]
    public static partial void Starting(ILogger logger, string binary, string url, string metrics, string tokenSource);

    [LoggerMessage(2001, LogLevel.Information, "cloudflared ready: the tunnel has registered edge connections")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(2002, LogLevel.Warning, "cloudflared not ready: no registered edge connection (it keeps retrying by itself)")]
    public static partial void NotReady(ILogger logger);

    [LoggerMessage(2003, LogLevel.Warning, "cloudflared exited code={Code}; restarting in {Delay}")]
    public static partial void Exited(ILogger logger, int code, string delay);

    [LoggerMessage(2004, LogLevel.Error, "cloudflared configuration problem code={Code}: {Reason}; retrying in {Delay}")]
    public static partial void ConfigurationProblem(ILogger logger, int code, string reason, string delay);

    [LoggerMessage(2005, LogLevel.Information, "cloudflared stopping (graceful, up to {Grace})")]
    public static partial void Stopping(ILogger logger, string grace);

    [LoggerMessage(2006, LogLevel.Warning, "cloudflared did not stop within {Grace}; killed")]
    public static partial void Killed(ILogger logger, string grace);

    [LoggerMessage(2007, LogLevel.Information, "cloudflared stopped code={Code}")]
    public static partial void Stopped(ILogger logger, int code);

    [LoggerMessage(2008, LogLevel.Information, "tunnel token changed; restarting cloudflared gracefully (the gateway stays up)")]
    public static partial void TokenChanged(ILogger logger);

    [LoggerMessage(2009, LogLevel.Error, "cannot start cloudflared: {Reason}")]
    public static partial void CannotStart(ILogger logger, string reason);

    /// <summary>A line of cloudflared's own log, at its own level, already redacted.</summary>
    [LoggerMessage(EventId = 2010, Message = "cloudflared: {Line}")]
    public static partial void ChildLine(ILogger logger, LogLevel level, string line);
}
