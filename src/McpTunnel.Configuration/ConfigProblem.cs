namespace McpTunnel.Configuration;

/// <summary>One problem found in a configuration file, with where it is and what to do about it.</summary>
public sealed record ConfigProblem(string Source, long Line, long Column, string Field, string Message, bool IsWarning = false)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{Source}:{Line}:{Column}" : Source;
        var field = Field.Length > 0 ? $"{Field}: " : "";
        return $"{where}: {(IsWarning ? "warning: " : "")}{field}{Message}";
    }
}
