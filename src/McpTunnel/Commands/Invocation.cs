using System.CommandLine;

namespace McpTunnel.Commands;

/// <summary>
/// Turns the argv the process was started with into the argv the parser reads (decision 0010).
/// </summary>
/// <remarks>
/// 1. The name the binary was started as: a copy or symlink named after a command runs that command
///    (<c>setup init ...</c> from the Compose <c>/setup</c> slot), and <c>mcp-proxy</c> (or its old name
///    <c>mcp-gateway</c>) runs <c>gateway</c>, as the proxy image's entrypoint did. Any other name is plain
///    <c>mcp-tunnel</c>. The parser's own root name is fixed, so no name can collide with a command.
/// 2. Go's flag package, which the reference images use, takes <c>-name</c> for <c>--name</c>. Every long
///    option here is accepted that way too, so <c>-config</c>, <c>-tunnel-domain</c>, <c>-api-url</c> and
///    <c>-output=dir:/data</c> work as they did; help and docs show the double-dash spelling only. A token
///    that is the value of the option before it is never rewritten.
/// 3. <c>--out</c>, the earlier spelling of the credential directory option of <c>cert</c> and <c>token</c>,
///    still means <c>--output</c>.
/// 4. The proxy container's argv, <c>-config FILE [-tunnel-domain D]</c> with no command, runs the gateway.
/// </remarks>
internal static class Invocation
{
    /// <summary>Names that mean a command other than their own (the proxy image's names for the gateway).</summary>
    private static readonly Dictionary<string, string> Personalities = new(StringComparer.Ordinal)
    {
        ["mcp-proxy"] = "gateway",
        ["mcp-gateway"] = "gateway",
    };

    private static readonly Dictionary<string, string> OldSpellings = new(StringComparer.Ordinal)
    {
        ["--out"] = "--output",
    };

    /// <summary>The command a binary named <paramref name="argv0"/> stands for, or null for plain mcp-tunnel.</summary>
    public static string? PersonalityOf(string? argv0, Command root)
    {
        if (string.IsNullOrEmpty(argv0))
        {
            return null;
        }

        var name = Path.GetFileName(argv0);
        if (Personalities.TryGetValue(name, out var verb))
        {
            return verb;
        }

        return root.Subcommands.Any(c => c.Name == name) ? name : null;
    }

    public static string[] Normalize(string[] args, string? argv0, Command root)
    {
        if (PersonalityOf(argv0, root) is { } verb && (args.Length == 0 || args[0] != verb))
        {
            args = [verb, .. args];
        }

        return RewriteProxyStyle(GoStyle(args, root));
    }

    /// <summary>Step 2 and 3: Go-style single-dash long options and old spellings become the documented ones.</summary>
    internal static string[] GoStyle(string[] args, Command root)
    {
        var options = new Dictionary<string, bool>(StringComparer.Ordinal);
        Collect(root, options);
        var result = new List<string>(args.Length);
        var valueNext = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                result.AddRange(args[i..]);
                break;
            }

            if (valueNext)
            {
                result.Add(arg);
                valueNext = false;
                continue;
            }

            var (name, value) = Split(arg);
            if (name.Length > 2 && name[0] == '-' && name[1] != '-' && (options.ContainsKey("-" + name) || OldSpellings.ContainsKey("-" + name)))
            {
                name = "-" + name;
            }

            if (OldSpellings.TryGetValue(name, out var current))
            {
                name = current;
            }

            result.Add(value is null ? name : $"{name}={value}");
            valueNext = value is null && options.TryGetValue(name, out var takesValue) && takesValue;
        }

        return [.. result];
    }

    /// <summary>Step 4: the proxy container's argv (no command) runs the gateway.</summary>
    internal static string[] RewriteProxyStyle(string[] args) =>
        args.Length > 0 && args[0].StartsWith('-') && args[0].TrimStart('-').Split('=')[0] is "config" or "tunnel-domain"
            ? ["gateway", .. args]
            : args;

    private static (string Name, string? Value) Split(string arg)
    {
        var equals = arg.IndexOf('=', StringComparison.Ordinal);
        return arg.StartsWith('-') && equals > 0 ? (arg[..equals], arg[(equals + 1)..]) : (arg, null);
    }

    /// <summary>Every option name and alias in the tree, and whether it takes a value.</summary>
    private static void Collect(Command command, Dictionary<string, bool> options)
    {
        foreach (var option in command.Options)
        {
            var takesValue = option.ValueType != typeof(bool);
            foreach (var name in option.Aliases.Append(option.Name))
            {
                options[name] = options.GetValueOrDefault(name) || takesValue;
            }
        }

        foreach (var sub in command.Subcommands)
        {
            Collect(sub, options);
        }
    }
}
