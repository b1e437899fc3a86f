using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>
/// One record of cloudflared's log: its level, message and fields (in its order, values as text). <see cref="Broken"/>
/// marks an event whose beginning or end never arrived (shown anyway, once, at its own level when it has one).
/// </summary>
public sealed record CloudflaredEvent(LogLevel Level, string Message, IReadOnlyList<KeyValuePair<string, string>> Fields, bool Broken = false)
{
    public string? Field(string name) => Fields.FirstOrDefault(f => f.Key == name).Value;
}
