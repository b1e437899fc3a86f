using System.CommandLine;
using System.CommandLine.Parsing;

namespace McpTunnel.Commands;

/// <summary>
/// Reports a command line the parser refused: what is wrong in words that name the fix, then where the usage
/// is; exit 2 (docs/operations.md, the man page). The parser's own typo hints would answer an option placed
/// before its command with "did you mean" the very same option; this says where it belongs instead.
/// </summary>
internal static class UsageErrors
{
    public static int Report(ParseResult parse, Command root, TextWriter error)
    {
        var command = parse.CommandResult.Command;
        var path = CommandPath(parse.CommandResult);
        var unmatched = parse.UnmatchedTokens.ToList();
        var reported = new HashSet<string>(StringComparer.Ordinal);
        var missingCommandExplained = false;
        for (var i = 0; i < unmatched.Count; i++)
        {
            var token = unmatched[i];
            reported.Add(token);
            var name = token.Split('=')[0];
            if (!name.StartsWith('-'))
            {
                if (command.Subcommands.Count > 0)
                {
                    var names = command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
                    var similar = names.Where(n => Distance(n, token) <= 2).ToList();
                    error.WriteLine($"{path}: unknown command \"{token}\"{(similar.Count > 0 ? $"; did you mean {string.Join(" or ", similar)}?" : "")} The commands are {string.Join(", ", names)}.");
                    missingCommandExplained = true;
                }
                else
                {
                    error.WriteLine($"{path}: unexpected argument \"{token}\"");
                }

                continue;
            }

            // An unknown option's value is not a second problem.
            var skipValue = !token.Contains('=', StringComparison.Ordinal) && i + 1 < unmatched.Count && !unmatched[i + 1].StartsWith('-');

            if (FindOption(command, name) is { } own)
            {
                // Known to this command, yet unmatched: it came before the command's name.
                var takesValue = own.ValueType != typeof(bool) && !token.Contains('=', StringComparison.Ordinal) && i + 1 < unmatched.Count;
                var example = takesValue ? $"{token} {unmatched[i + 1]}" : token;
                if (takesValue)
                {
                    reported.Add(unmatched[++i]);
                }

                error.WriteLine($"{Cli.Name}: {name} is an option of \"{path}\" and goes after it: {path} {example}");
                continue;
            }

            if (skipValue)
            {
                reported.Add(unmatched[++i]);
            }

            var owners = Owners(root, name).ToList();
            if (owners.Count > 0)
            {
                error.WriteLine($"{path}: {name} is not an option of this command (it is one of {string.Join(", ", owners)})");
                continue;
            }

            var close = command.Options.Where(o => !o.Hidden).Select(o => o.Name).Where(o => Distance(o, name) <= 2).ToList();
            error.WriteLine($"{path}: unknown option {name}{(close.Count > 0 ? $"; did you mean {string.Join(" or ", close)}?" : "")}");
        }

        foreach (var problem in parse.Errors)
        {
            // The parser's "Unrecognized command or argument 'x'" for each token handled above.
            if (reported.Any(t => problem.Message.Contains($"'{t}'", StringComparison.Ordinal)))
            {
                continue;
            }

            if (command.Subcommands.Count > 0 && command.Action is null)
            {
                if (missingCommandExplained)
                {
                    continue;
                }

                // "Required command was not provided", after options alone.
                error.WriteLine($"{path}: which command? The commands are {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))}.");
                missingCommandExplained = true;
                continue;
            }

            var message = problem.Message.Replace("\n\t", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
            var option = (problem.SymbolResult as OptionResult ?? problem.SymbolResult?.Parent as OptionResult)?.Option.Name;
            error.WriteLine(option is null || message.Contains(option, StringComparison.Ordinal) ? $"{path}: {message}" : $"{path}: {option}: {message}");
        }

        error.WriteLine($"Run \"{path} --help\" for its usage.");
        return ExitCodes.Usage;
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Insert(0, c.Command.Name);
            }
        }

        return string.Join(' ', names);
    }

    private static Option? FindOption(Command command, string name) =>
        command.Options.FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));

    /// <summary>The commands (as "mcp-tunnel gateway") that have an option called <paramref name="name"/>.</summary>
    private static IEnumerable<string> Owners(Command command, string name, string prefix = "")
    {
        var path = prefix.Length == 0 ? command.Name : $"{prefix} {command.Name}";
        if (prefix.Length > 0 && FindOption(command, name) is not null && command.Action is not null)
        {
            yield return path;
        }

        foreach (var sub in command.Subcommands)
        {
            foreach (var owner in Owners(sub, name, path))
            {
                yield return owner;
            }
        }
    }

    /// <summary>Levenshtein distance, for "did you mean" on a typo.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }

        return d[a.Length, b.Length];
    }
}
