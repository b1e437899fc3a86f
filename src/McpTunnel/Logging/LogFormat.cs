namespace McpTunnel.Logging;

/// <summary><c>--log-format</c> of <c>run</c> and <c>gateway</c>: how each log line is written.</summary>
public enum LogFormat
{
    /// <summary>logfmt lines, with journald priority prefixes when stderr is the journal.</summary>
    Text,

    /// <summary>One JSON object per line (Serilog's JSON formatter).</summary>
    Json,
}
