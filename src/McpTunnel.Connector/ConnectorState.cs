namespace McpTunnel.Connector;

/// <summary>What the connector is doing, for readiness, STATUS= and metrics.</summary>
public enum ConnectorState
{
    Stopped,
    Starting,
    Connected,
    Disconnected,
    Backoff,
    ConfigurationError,

    /// <summary>The binary is older than <see cref="CloudflaredVersion.Minimum"/>; waiting for it to be replaced.</summary>
    Unsupported,
}
