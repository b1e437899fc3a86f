namespace McpTunnel.Gateway.Diagnostics;

/// <summary>Why the gateway closed a connection to protect itself; the metric's <c>reason</c> label.</summary>
public enum ShedReason
{
    ConnectionLimit,
    SessionLimit,
    UpgradeTimeout,
    FirstRequestTimeout,
    HealthLimit,
}
