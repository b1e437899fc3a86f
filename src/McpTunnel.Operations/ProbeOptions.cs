namespace McpTunnel.Operations;

/// <summary>What <c>mcp-tunnel probe</c> checks, and where.</summary>
public sealed record ProbeOptions
{
    public required EdgeConnectOptions Edge { get; init; }

    /// <summary>The route's full host name, for example <c>echo.abcd1234.tunnel.anthropic.com</c>.</summary>
    public required string Host { get; init; }

    /// <summary>The MCP endpoint path on the upstream, <c>/mcp</c> for most servers.</summary>
    public string Path { get; init; } = "/mcp";

    public bool Http2 { get; init; }

    /// <summary>Optionally call one tool after <c>tools/list</c>: its name and its JSON arguments.</summary>
    public (string Name, string ArgumentsJson)? ToolCall { get; init; }

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
