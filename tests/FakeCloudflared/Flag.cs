namespace FakeCloudflared;

/// <summary>How urfave/cli (on Go's flag package) parses a flag's value.</summary>
internal enum FlagKind
{
    String,
    Bool,
    Duration,
    Int,
    Uint,
    StringSlice,
}

/// <summary>
/// One cloudflared flag as urfave/cli defines it: names, value kind, environment twins, default, and the release
/// that added it (null: older than any release the stand-in plays). The help texts are the stand-in's own words.
/// </summary>
internal sealed record Flag(string Name, FlagKind Kind, string Usage, string[]? Aliases = null, string[]? Env = null, string? Default = null, bool Hidden = false, Release? Since = null)
{
    public IEnumerable<string> Names => Aliases is null ? [Name] : [Name, .. Aliases];

    public bool TakesValue => Kind != FlagKind.Bool;

    /// <summary>The help line, in urfave/cli's shape: <c>--name value, -a value  usage (default: "x") [$ENV]</c>.</summary>
    public string HelpLine(Func<string, string?> environment)
    {
        var names = string.Join(", ", Names.Select(n => (n.Length == 1 ? "-" : "--") + n + (TakesValue ? " value" : "")));
        // urfave/cli applies the environment before printing help, so an env twin's value shows as the default
        // (this is how the real usage text ends up containing TUNNEL_TOKEN).
        var value = Env?.Select(environment).FirstOrDefault(v => !string.IsNullOrEmpty(v)) ?? Default;
        var shown = value is null or "" ? "" : Kind is FlagKind.String or FlagKind.StringSlice ? $" (default: \"{value}\")" : $" (default: {value})";
        var env = Env is null ? "" : " [" + string.Join(", ", Env.Select(e => "$" + e)) + "]";
        return $"{names}\t{Usage}{shown}{env}";
    }
}
