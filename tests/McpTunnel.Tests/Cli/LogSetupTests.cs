using McpTunnel.Configuration;
using McpTunnel.Logging;
using Serilog.Events;
using MelLevel = Microsoft.Extensions.Logging.LogLevel;
using McpTunnel.Gateway.Diagnostics;

namespace McpTunnel.Tests.Cli;

/// <summary><c>log_level</c> is read once (ConfigLoaderTests); the gateway's filter and the process's Serilog switch map the same value the same way.</summary>
public sealed class LogSetupTests
{
    [Theory]
    [InlineData(LogLevelSetting.Debug, MelLevel.Debug, LogEventLevel.Debug)]
    [InlineData(LogLevelSetting.Info, MelLevel.Information, LogEventLevel.Information)]
    [InlineData(LogLevelSetting.Warn, MelLevel.Warning, LogEventLevel.Warning)]
    [InlineData(LogLevelSetting.Error, MelLevel.Error, LogEventLevel.Error)]
    public void Each_log_level_maps_to_the_same_level_in_the_gateway_filter_and_in_serilog(LogLevelSetting setting, MelLevel gateway, LogEventLevel serilog)
    {
        Assert.Equal(gateway, LogLevelFilter.ToLogLevel(setting));
        Assert.Equal(gateway, new LogLevelFilter(setting).Minimum);
        Assert.Equal(serilog, LogSetup.Level(setting));
    }
}
