using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary>
/// What every section reader shares while one configuration is read: where it came from (for messages), how relative
/// file paths resolve, and the problems found so far. Readers report and go on, so one pass finds every problem.
/// </summary>
internal sealed class ReadContext(string source, string? fileBaseDirectory, bool checkFiles)
{
    public string Source => source;

    public List<ConfigProblem> Problems { get; } = [];

    public void Error(YamlNode? node, string field, string message) =>
        Problems.Add(new ConfigProblem(source, node?.Start.Line ?? 0, node?.Start.Column ?? 0, field, message));

    public void Warn(YamlNode? node, string field, string message) =>
        Problems.Add(new ConfigProblem(source, node?.Start.Line ?? 0, node?.Start.Column ?? 0, field, message, IsWarning: true));

    /// <summary>
    /// The known fields of a mapping, by name. An unknown key is an error when <paramref name="strict"/> (our own
    /// <c>appliance:</c> section) and a warning otherwise, as Go's YAML decoder ignores it in the proxy's fields.
    /// </summary>
    public YamlSection Section(YamlMappingNode node, string prefix, string[] known, bool strict)
    {
        var fields = new Dictionary<string, (YamlNode, YamlNode)>(StringComparer.Ordinal);
        foreach (var (key, value) in node.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            var path = prefix + name;
            if (!known.Contains(name))
            {
                var hint = known.FirstOrDefault(k => Similar(k, name)) is { } close ? $"; did you mean {prefix}{close}?" : "";
                if (strict)
                {
                    Error(key, path, $"unknown field{hint}{(hint.Length == 0 ? $"; known fields are {string.Join(", ", known)}" : "")}");
                }
                else
                {
                    Warn(key, path, $"unknown field, ignored{hint}");
                }

                continue;
            }

            fields[name] = (key, value);
        }

        return new YamlSection(this, prefix, fields);
    }

    /// <summary>A file path from the configuration, relative ones resolved against the configuration file's directory.</summary>
    public string ResolvePath(string file) =>
        Path.IsPathRooted(file) || fileBaseDirectory is null ? file : Path.GetFullPath(Path.Combine(fileBaseDirectory, file));

    /// <summary>The resolved path of a file the gateway opens; when files are checked, one it cannot open is an error.</summary>
    public string CheckFile(YamlNode node, string path, string file)
    {
        var full = ResolvePath(file);
        if (!checkFiles)
        {
            return full;
        }

        try
        {
            using var stream = File.OpenRead(full);
        }
        catch (FileNotFoundException)
        {
            Error(node, path, $"open {full}: no such file or directory (run `mcp-tunnel setup init` or `mcp-tunnel cert init`, or fix the path)");
        }
        catch (DirectoryNotFoundException)
        {
            Error(node, path, $"open {full}: no such file or directory (the directory does not exist)");
        }
        catch (UnauthorizedAccessException)
        {
            Error(node, path, $"open {full}: permission denied (the file must be readable by the user the gateway runs as)");
        }
        catch (IOException ex)
        {
            Error(node, path, $"open {full}: {ex.Message}");
        }

        return full;
    }

    private static bool Similar(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return false;
        }

        // Levenshtein distance of at most two catches the usual typos (listen_adr, tunel_domain).
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
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
            }
        }

        return d[a.Length, b.Length] <= 2;
    }
}
