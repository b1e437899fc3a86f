using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// The gateway's <c>log_level</c> as a Microsoft.Extensions.Logging filter that a reload can change. A level
/// fixed with <c>SetMinimumLevel</c> at start would cap every later reload: raising <c>log_level</c> to
/// <c>debug</c> would change nothing, because lines below the start level are dropped before any sink sees them.
/// Framework categories (Kestrel, ASP.NET Core, YARP) stay at warnings unless the level is <c>debug</c>.
/// </summary>
public sealed class LogLevelFilter(string logLevel)
{
    private volatile int _minimum = (int)Parse(logLevel);

    public LogLevel Minimum => (LogLevel)_minimum;

    public void Set(string logLevel) => _minimum = (int)Parse(logLevel);

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

        if (level >= LogLevel.Warning)
        {
            return true;
        }

        // ASP.NET Core's "Request starting/finished" lines read Request.Host, which throws for a Host with a
        // punycode label that does not decode, ending the connection before any answer; our own request lines
        // say the same and read the Host as received.
        if (category == HostingDiagnostics)
        {
            return false;
        }

        return minimum <= LogLevel.Debug || !IsFramework(category);
    }

    private const string HostingDiagnostics = "Microsoft.AspNetCore.Hosting.Diagnostics";

    private const string Forwarder = "Yarp.ReverseProxy.Forwarder";

    public static LogLevel Parse(string logLevel) => logLevel switch
    {
        "debug" => LogLevel.Debug,
        "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => LogLevel.Information,
    };

    private static bool IsFramework(string? category) =>
        category is not null && (category.StartsWith("Microsoft", StringComparison.Ordinal) || category.StartsWith("Yarp", StringComparison.Ordinal));
}
