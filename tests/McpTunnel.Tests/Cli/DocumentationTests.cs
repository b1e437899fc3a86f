using System.CommandLine;
using System.Text.RegularExpressions;
using McpTunnel.Run;

namespace McpTunnel.Tests.Cli;

/// <summary>README, operations.md and the man page say what the binary does, in its own words.</summary>
public sealed partial class DocumentationTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root");
    }

    private static string Read(string path) => File.ReadAllText(Path.Combine(Root, path));

    private static IEnumerable<Command> AllCommands(Command command) =>
        command.Subcommands.SelectMany(AllCommands).Prepend(command);

    [Fact]
    public void Every_status_the_service_can_show_is_quoted_in_operations_md_in_the_same_words()
    {
        var operations = Read("docs/operations.md");
        var statuses = Directory.EnumerateFiles(Path.Combine(Root, "src", "McpTunnel.Connector"), "*.cs")
            .SelectMany(file => ConnectorStatus().Matches(File.ReadAllText(file)).Select(m => m.Groups["text"].Value))
            .ToList();
        Assert.True(statuses.Count >= 5, $"found only {statuses.Count} connector status strings; has the connector changed how it sets them?");
        foreach (var status in statuses)
        {
            // Interpolated parts ({code}, {Format(delay)}) stand for any value in the docs' example.
            var pattern = string.Join(".+?", Regex.Split(status, @"\{[^}]*\}").Select(Regex.Escape));
            Assert.True(Regex.IsMatch(operations, pattern), $"operations.md does not quote the status \"{status}\"");
        }

        Assert.Contains(ServiceStatus.NoRoutes.Replace(" and reload", "", StringComparison.Ordinal)[..60], operations.Replace("\n", " ", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains(ServiceStatus.ReloadRejected[..40], operations.Replace("\n", " ", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("the tunnel has registered edge connections\"", operations, StringComparison.Ordinal);
    }

    [Fact]
    public void The_man_page_names_every_command_and_every_option()
    {
        var man = Read("packaging/common/mcp-tunnel.1");
        foreach (var command in AllCommands(Commands.Cli.Build()).Skip(1))
        {
            Assert.True(man.Contains(command.Name, StringComparison.Ordinal), $"the man page does not name the command {command.Name}");
            foreach (var option in command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal)))
            {
                var roff = option.Name.Replace("-", "\\-", StringComparison.Ordinal);
                Assert.True(man.Contains(roff, StringComparison.Ordinal), $"the man page does not name {option.Name} of {command.Name}");
            }
        }
    }

    [Fact]
    public void The_readme_lists_every_command()
    {
        var readme = Read("README.md");
        foreach (var command in Commands.Cli.Build().Subcommands)
        {
            Assert.Contains($"`mcp-tunnel {command.Name}", readme, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_docs_no_longer_spell_the_credential_directory_out()
    {
        foreach (var doc in new[] { "README.md", "docs/operations.md", "docs/configuration.md", "packaging/common/mcp-tunnel.1" })
        {
            Assert.DoesNotMatch(OutOption(), Read(doc).Replace("\\-", "-", StringComparison.Ordinal).Replace("--out is accepted", "", StringComparison.Ordinal).Replace(".B --out\nis accepted", "", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Xml_documentation_keeps_remarks_beside_the_summary_not_inside_it()
    {
        // The compiler accepts <remarks> nested in <summary>, but every consumer then shows the remarks as part of
        // the one-line summary. The build checks the XML is well formed; this checks the shape.
        var nested = Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Where(file => SummaryBlock().Matches(File.ReadAllText(file)).Any(m => m.Value.Contains("<remarks>", StringComparison.Ordinal)))
            .Select(file => Path.GetRelativePath(Root, file))
            .ToList();
        Assert.True(nested.Count == 0, $"<remarks> inside <summary> in: {string.Join(", ", nested)}");
    }

    [GeneratedRegex(@"/// <summary>.*?</summary>", RegexOptions.Singleline)]
    private static partial Regex SummaryBlock();

    [GeneratedRegex(@"Set\(ConnectorState\.\w+,\s*\$?""(?<text>[^""]+)""")]
    private static partial Regex ConnectorStatus();

    [GeneratedRegex(@"--out\b(?!put)")]
    private static partial Regex OutOption();
}
