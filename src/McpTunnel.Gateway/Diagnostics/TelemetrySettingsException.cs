namespace McpTunnel.Gateway.Diagnostics;

/// <summary>An OpenTelemetry variable the gateway reads itself cannot be used; the message names it and the fix.</summary>
public sealed class TelemetrySettingsException(string message) : Exception(message);
