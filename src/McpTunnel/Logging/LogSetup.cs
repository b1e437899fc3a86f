using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Extensions.Logging;
using Serilog.Formatting;
using Serilog.Formatting.Json;

namespace McpTunnel.Logging;

/// <summary>How the process logs: logfmt lines on stderr (journald-aware) or JSON, level from <c>log_level</c>.</summary>
public static class LogSetup
{
    public static LoggingLevelSwitch LevelSwitch { get; } = new(LogEventLevel.Information);

    /// <summary>True when stderr goes to the systemd journal (it sets JOURNAL_STREAM for the service).</summary>
    public static bool UnderJournald => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    public static LogEventLevel ParseLevel(string level) => level switch
    {
        "debug" => LogEventLevel.Debug,
        "warn" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        _ => LogEventLevel.Information,
    };

    public static Serilog.Core.Logger Create(string format, string level)
    {
        LevelSwitch.MinimumLevel = ParseLevel(level);
        ITextFormatter formatter = format == "json"
            ? new JsonFormatter(renderMessage: true)
            : new LogfmtFormatter(UnderJournald);
        var configuration = new LoggerConfiguration().MinimumLevel.ControlledBy(LevelSwitch);
        return configuration.WriteTo.Console(formatter, standardErrorFromLevel: LogEventLevel.Verbose).CreateLogger();
    }

    /// <summary>The Microsoft.Extensions.Logging provider that feeds Kestrel, YARP and our own lines into Serilog.</summary>
    public static ILoggerProvider Provider(Serilog.ILogger logger) => new SerilogLoggerProvider(logger, dispose: false);
}
