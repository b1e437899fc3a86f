using System.Collections.Concurrent;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// The <c>gen_ai.tool.name</c> label: tool names are chosen by whoever calls, so each route admits the first
/// <see cref="PerRoute"/> distinct well-formed names it sees and labels every other one <c>_other</c>. A name
/// is well-formed as the MCP specification defines tool names (1–128 of <c>A-Z a-z 0-9 _ - .</c>); anything else
/// is <c>_other</c> at once and never takes a place. So a client can add at most that many series per route.
/// </summary>
internal sealed class ToolNameLabels
{
    public const int PerRoute = 50;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, string>> _routes = new(StringComparer.Ordinal);

    public string Label(string route, string? tool)
    {
        if (!IsWellFormed(tool))
        {
            return McpMethods.Other;
        }

        var names = _routes.GetOrAdd(route, static _ => new ConcurrentDictionary<string, string>(StringComparer.Ordinal));
        if (names.TryGetValue(tool, out var known))
        {
            return known;
        }

        // Admission is rare (at most PerRoute times per route), so a lock keeps the bound exact.
        lock (names)
        {
            return names.Count >= PerRoute ? McpMethods.Other : names.GetOrAdd(tool, tool);
        }
    }

    public static bool IsWellFormed([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? tool)
    {
        if (tool is null || tool.Length is 0 or > 128)
        {
            return false;
        }

        foreach (var c in tool)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
