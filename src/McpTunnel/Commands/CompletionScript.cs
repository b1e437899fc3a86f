using System.CommandLine;
using System.CommandLine.Completions;
using System.Text;

namespace McpTunnel.Commands;

/// <summary>
/// Static shell completion scripts written from the command tree itself, so they can never disagree with the
/// binary. The packages install them (bash: /usr/share/bash-completion/completions/mcp-tunnel; zsh:
/// vendor-completions on Debian, site-functions on RPM systems); <c>mcp-tunnel completion bash|zsh</c> prints
/// them for a binary installed by hand. A static script, not System.CommandLine's <c>dotnet-suggest</c>
/// protocol: nothing to install beside it and no process started per key press (decision 0010).
/// </summary>
internal static class CompletionScript
{
    private sealed record Node(string Path, Command Command);

    public static string Bash(Command root)
    {
        var nodes = Walk(root).ToList();
        var text = new StringBuilder();
        text.Append("# bash completion for mcp-tunnel                          -*- shell-script -*-\n")
            .Append("# Written by `mcp-tunnel completion bash` from the binary's own commands and options.\n\n")
            .Append("_mcp_tunnel()\n{\n")
            .Append("    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmdpath=\"\" word i\n")
            .Append("    for ((i = 1; i < COMP_CWORD; i++)); do\n")
            .Append("        word=${COMP_WORDS[i]}\n")
            .Append("        case \"$cmdpath $word\" in\n")
            .Append("            ").Append(string.Join('|', nodes.Where(n => n.Path.Length > 0).Select(n => Quote(n.Path)))).Append(") cmdpath=\"$cmdpath $word\" ;;\n")
            .Append("        esac\n")
            .Append("    done\n")
            .Append("    case \"$cmdpath:$prev\" in\n");
        foreach (var (kind, keys) in ValueCases(nodes))
        {
            var action = kind switch
            {
                "file" => "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return ;;",
                "dir" => "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$cur\")); return ;;",
                "value" => "return ;;",
                _ => $"COMPREPLY=($(compgen -W \"{kind}\" -- \"$cur\")); return ;;",
            };
            text.Append("        ").Append(string.Join('|', keys)).Append(") ").Append(action).Append('\n');
        }

        text.Append("    esac\n")
            .Append("    case \"$cmdpath\" in\n");
        foreach (var node in nodes)
        {
            var words = Words(node.Command).Select(w => w.Word);
            var files = node.Command.Arguments.Any(TakesFile) ? " [[ $cur != -* ]] && { compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return; };" : "";
            text.Append("        ").Append(Quote(node.Path)).Append(')').Append(files)
                .Append(" COMPREPLY=($(compgen -W \"").Append(string.Join(' ', words)).Append("\" -- \"$cur\")) ;;\n");
        }

        text.Append("    esac\n")
            .Append("}\n")
            .Append("complete -F _mcp_tunnel mcp-tunnel\n");
        return text.ToString();
    }

    public static string Zsh(Command root)
    {
        var nodes = Walk(root).ToList();
        var text = new StringBuilder();
        text.Append("#compdef mcp-tunnel\n")
            .Append("# zsh completion for mcp-tunnel, written by `mcp-tunnel completion zsh` from the binary's own commands and options.\n\n")
            .Append("_mcp_tunnel() {\n")
            .Append("  local cur=${words[CURRENT]} prev=${words[CURRENT-1]} cmdpath=\"\" word i\n")
            .Append("  local -a items\n")
            .Append("  for ((i = 2; i < CURRENT; i++)); do\n")
            .Append("    word=${words[i]}\n")
            .Append("    case \"$cmdpath $word\" in\n")
            .Append("      (").Append(string.Join('|', nodes.Where(n => n.Path.Length > 0).Select(n => Quote(n.Path)))).Append(") cmdpath=\"$cmdpath $word\" ;;\n")
            .Append("    esac\n")
            .Append("  done\n")
            .Append("  case \"$cmdpath:$prev\" in\n");
        foreach (var (kind, keys) in ValueCases(nodes))
        {
            var action = kind switch
            {
                "file" => "_files; return ;;",
                "dir" => "_files -/; return ;;",
                "value" => "_message 'value'; return ;;",
                _ => $"compadd -- {kind}; return ;;",
            };
            text.Append("    (").Append(string.Join('|', keys)).Append(") ").Append(action).Append('\n');
        }

        text.Append("  esac\n")
            .Append("  case \"$cmdpath\" in\n");
        foreach (var node in nodes)
        {
            var words = Words(node.Command).ToList();
            var tag = node.Command.Subcommands.Count > 0 ? "commands" : "options";
            var files = node.Command.Arguments.Any(TakesFile) ? " [[ $cur != -* ]] && { _files; return; };" : "";
            text.Append("    (").Append(Quote(node.Path)).Append(')').Append(files).Append(" items=(")
                .Append(string.Join(' ', words.Select(w => ZshItem(w.Word, w.Description))))
                .Append($"); _describe -t {tag} '{tag}' items ;;\n");
        }

        text.Append("  esac\n")
            .Append("}\n\n")
            .Append("_mcp_tunnel \"$@\"\n");
        return text.ToString();
    }

    /// <summary>Every command with its path from the root ("" for the root, " cert init" for a verb).</summary>
    private static IEnumerable<Node> Walk(Command command, string path = "")
    {
        if (command.Hidden)
        {
            yield break;
        }

        yield return new Node(path, command);
        foreach (var sub in command.Subcommands)
        {
            foreach (var node in Walk(sub, $"{path} {sub.Name}"))
            {
                yield return node;
            }
        }
    }

    private static bool TakesFile(Argument argument) => (argument.HelpName ?? argument.Name) == "FILE";

    /// <summary>What a command offers next: its subcommands, or its options (with those its ancestors give every command, such as --help).</summary>
    private static IEnumerable<(string Word, string Description)> Words(Command command) =>
        command.Subcommands.Count > 0
            ? command.Subcommands.Where(c => !c.Hidden).Select(c => (c.Name, c.Description ?? ""))
            : command.Options.Concat(Ancestors(command).SelectMany(p => p.Options.Where(o => o.Recursive)))
                .Where(o => !o.Hidden).Select(o => (o.Name, o.Description ?? ""));

    private static IEnumerable<Command> Ancestors(Command command)
    {
        for (var parent = command.Parents.OfType<Command>().FirstOrDefault(); parent is not null; parent = parent.Parents.OfType<Command>().FirstOrDefault())
        {
            yield return parent;
        }
    }

    /// <summary>The options that take a value, grouped by what completes it: file, dir, a fixed list, or nothing.</summary>
    private static IEnumerable<(string Kind, List<string> Keys)> ValueCases(List<Node> nodes)
    {
        var cases = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var node in nodes.Where(n => n.Command.Subcommands.Count == 0))
        {
            foreach (var option in node.Command.Options.Where(o => !o.Hidden && o.ValueType != typeof(bool)))
            {
                var values = option.GetCompletions(CompletionContext.Empty).Select(c => c.Label).ToList();
                var kind = values.Count > 0 ? string.Join(' ', values) : option.HelpName switch
                {
                    "FILE" => "file",
                    "DIR" => "dir",
                    _ => "value",
                };
                if (!cases.TryGetValue(kind, out var keys))
                {
                    cases[kind] = keys = [];
                }

                foreach (var name in option.Aliases.Prepend(option.Name))
                {
                    keys.Add(Quote($"{node.Path}:{name}"));
                }
            }
        }

        return cases.Select(c => (c.Key, c.Value));
    }

    private static string Quote(string word) => $"\"{word}\"";

    private static string ZshItem(string word, string description) =>
        "'" + (word + ":" + description).Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
