using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
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

    /// <summary><c>log_level</c> as Serilog's level: the same mapping the gateway's own filter uses.</summary>
    public static LogEventLevel Level(LogLevelSetting level) => LevelConvert.ToSerilogLevel(LogLevelFilter.ToLogLevel(level));

    public static Serilog.Core.Logger Create(LogFormat format, LogLevelSetting level)
    {
        LevelSwitch.MinimumLevel = Level(level);
        ITextFormatter formatter = format == LogFormat.Json
            ? new JsonFormatter(renderMessage: true)
            : new LogfmtFormatter(UnderJournald);
        var configuration = new LoggerConfiguration().MinimumLevel.ControlledBy(LevelSwitch);
        return configuration.WriteTo.Console(formatter, standardErrorFromLevel: LogEventLevel.Verbose).CreateLogger();
    }

    /// <summary>The Microsoft.Extensions.Logging provider that feeds Kestrel, YARP and our own lines into Serilog.</summary>
    public static ILoggerProvider Provider(Serilog.ILogger logger) => new SerilogLoggerProvider(logger, dispose: false);
}
