namespace McpTunnel.Configuration;

/// <summary>
/// How long a stop of <c>mcp-tunnel run</c> can take, and how long the packaged service unit lets it take.
/// </summary>
/// <remarks>
/// On SIGTERM the gateway drains for up to <c>shutdown_timeout</c> while cloudflared, in parallel, drains for its
/// grace period (at most <c>shutdown_timeout</c>) and is killed <see cref="CloudflaredKillMargin"/> later; then
/// what is left is closed. The unit's <c>TimeoutStopSec</c> must cover all of it, or systemd sends SIGKILL in the
/// middle of the drain. The value is stated here once; a test checks that packaging/systemd/mcp-tunnel.service says
/// the same, and the loader warns when a configuration cannot fit it.
/// </remarks>
public static class StopBudget
{
    /// <summary><c>TimeoutStopSec</c> of the packaged <c>mcp-tunnel.service</c>.</summary>
    public static readonly TimeSpan PackagedTimeoutStopSec = TimeSpan.FromSeconds(60);

    /// <summary>How long after its grace period a cloudflared that is still running is killed.</summary>
    public static readonly TimeSpan CloudflaredKillMargin = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Closing what is left once the drain deadline has passed: Kestrel waits about a second for aborted
    /// connections, each WebSocket close waits up to 2 s for the peer's close frame, and the process exits.
    /// </summary>
    public static readonly TimeSpan CloseAllowance = TimeSpan.FromSeconds(5);

    /// <summary>The grace period cloudflared is actually given: never longer than <c>shutdown_timeout</c>.</summary>
    public static TimeSpan EffectiveGracePeriod(GatewayConfig config) =>
        config.Appliance.Cloudflared.GracePeriod < config.ShutdownTimeout ? config.Appliance.Cloudflared.GracePeriod : config.ShutdownTimeout;

    /// <summary>The longest a stop of <c>run</c> with this configuration can take.</summary>
    public static TimeSpan WorstCase(GatewayConfig config)
    {
        var drain = config.ShutdownTimeout;
        if (config.Appliance.Cloudflared.Enabled)
        {
            var connector = EffectiveGracePeriod(config) + CloudflaredKillMargin;
            drain = connector > drain ? connector : drain;
        }

        return drain + CloseAllowance;
    }
}
