using McpTunnel.Configuration;
using McpTunnel.Hosting;
using Microsoft.Extensions.Logging;
using Serilog.Core;

namespace McpTunnel.Run;

/// <summary>What <see cref="RunService"/> is composed with: the process's own in <see cref="RunCommand"/>, fakes in tests.</summary>
internal sealed record RunServiceOptions
{
    /// <summary>The configuration loaded at start (already validated).</summary>
    public required GatewayConfig Config { get; init; }

    /// <summary>The file it came from, read again on every reload.</summary>
    public required string ConfigPath { get; init; }

    /// <summary>The <c>--tunnel-domain</c> flag, which overrides the file on every load.</summary>
    public string? TunnelDomain { get; init; }

    /// <summary><c>--no-connector</c>: cloudflared runs elsewhere.</summary>
    public bool NoConnector { get; init; }

    public required ILoggerProvider Logs { get; init; }

    /// <summary>The switch the log pipeline is controlled by; a reload sets it from <c>log_level</c>.</summary>
    public required LoggingLevelSwitch LogLevels { get; init; }

    public required ISystemdNotifier Notifier { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The environment (<c>WATCHDOG_USEC</c>, <c>$CREDENTIALS_DIRECTORY</c>, <c>TUNNEL_TOKEN</c>, <c>$RUNTIME_DIRECTORY</c>...).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>
    /// Subscribes the reload action to what asks for reloads (SIGHUP in the process); called once the gateway
    /// listens, so a reload never races the start. Disposing the result unsubscribes.
    /// </summary>
    public required Func<Action, IDisposable> SubscribeReload { get; init; }
}
