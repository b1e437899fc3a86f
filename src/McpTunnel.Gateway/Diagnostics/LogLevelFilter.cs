using McpTunnel.Configuration;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// The gateway's <c>log_level</c> as a Microsoft.Extensions.Logging filter that a reload can change. A level
/// fixed with <c>SetMinimumLevel</c> at start would cap every later reload: raising <c>log_level</c> to
/// <c>debug</c> would change nothing, because lines below the start level are dropped before any sink sees them.
/// Framework categories (Kestrel, ASP.NET Core, YARP) stay at warnings unless the level is <c>debug</c>.
/// </summary>
public sealed class LogLevelFilter(LogLevelSetting logLevel)
{
    private volatile int _minimum = (int)ToLogLevel(logLevel);

    public LogLevel Minimum => (LogLevel)_minimum;

    public void Set(LogLevelSetting logLevel) => _minimum = (int)ToLogLevel(logLevel);

    public bool Allows(string? category, LogLevel level)
    {
        var minimum = Minimum;
        if (level < minimum)
        {
            return false;
        }

        // Every forwarding failure gets our own line (InnerRequestHandler: "upstream request failed", or the IP
        // policy's "IP validation failed"); the forwarder's WARN for the same event would be a second line.
        if (level == LogLevel.Warning && minimum > LogLevel.Debug && category is not null && category.StartsWith(Forwarder, StringComparison.Ordinal))
        {
            return false;
        }

        // ASP.NET Core's "Request starting/finished" lines read Request.Host, which throws for a Host with a
        // punycode label that does not decode, ending the connection before any answer; our own request lines
        // say the same and read the Host as received. Off at every level: while this category is enabled even at
        // Critical, the hosting layer creates an Activity per request (never exported, but allocated and current
        // under everything the request does). Its start-up failures still reach us as exceptions.
        if (category == HostingDiagnostics)
        {
            return false;
        }

        if (level >= LogLevel.Warning)
        {
            return true;
        }

        return minimum <= LogLevel.Debug || !IsFramework(category);
    }

    private const string HostingDiagnostics = "Microsoft.AspNetCore.Hosting.Diagnostics";

    private const string Forwarder = "Yarp.ReverseProxy.Forwarder";

    /// <summary><c>log_level</c> as a Microsoft.Extensions.Logging level; the process's Serilog level is derived from it too.</summary>
    public static LogLevel ToLogLevel(LogLevelSetting logLevel) => logLevel switch
    {
        LogLevelSetting.Debug => LogLevel.Debug,
        LogLevelSetting.Info => LogLevel.Information,
        LogLevelSetting.Warn => LogLevel.Warning,
        LogLevelSetting.Error => LogLevel.Error,
        _ => throw new ArgumentOutOfRangeException(nameof(logLevel), logLevel, null),
    };

    private static bool IsFramework(string? category) =>
        category is not null && (category.StartsWith("Microsoft", StringComparison.Ordinal) || category.StartsWith("Yarp", StringComparison.Ordinal));
}
