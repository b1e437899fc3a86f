namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// The JSON-RPC methods of the Model Context Protocol (specification 2025-11-25, both directions), the only
/// values the <c>mcp.method.name</c> label takes; anything else a client sends is <c>_other</c>. Attribute names
/// are OpenTelemetry's MCP semantic conventions.
/// </summary>
public static class McpMethods
{
    public const string MethodAttribute = "mcp.method.name";

    public const string ToolAttribute = "gen_ai.tool.name";

    public const string Other = "_other";

    private static readonly System.Collections.Frozen.FrozenSet<string> Known = System.Collections.Frozen.FrozenSet.ToFrozenSet(
    [
        "initialize", "ping",
        "tools/list", "tools/call",
        "resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
        "prompts/list", "prompts/get",
        "completion/complete", "logging/setLevel",
        "sampling/createMessage", "elicitation/create", "roots/list",
        "tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
        "notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/message",
        "notifications/roots/list_changed", "notifications/resources/list_changed", "notifications/resources/updated",
        "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/elicitation/complete",
        "notifications/tasks/status",
    ], StringComparer.Ordinal);

    /// <summary>Every value <see cref="Label"/> can return.</summary>
    public static IEnumerable<string> Labels => Known.Append(Other);

    /// <summary>The method as sent when the specification lists it, else <c>_other</c>.</summary>
    public static string Label(string method) => Known.TryGetValue(method, out var known) ? known : Other;
}
