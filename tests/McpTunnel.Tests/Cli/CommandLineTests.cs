using System.CommandLine;
using System.Text.RegularExpressions;
using McpTunnel.Commands;

namespace McpTunnel.Tests.Cli;

/// <summary>
/// The command line as a first-time user meets it: the name the binary is started as, bare invocation, one
/// flag style, usage errors (exit 2, words that name the fix) and the help text (decision 0010).
/// </summary>
public sealed partial class CommandLineTests
{
    private static async Task<(int Code, string Output, string Error)> RunAsync(string? argv0, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Commands.Cli.RunAsync(Invocation.Normalize(args, argv0, Commands.Cli.Build()), output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static IEnumerable<Command> AllCommands(Command command) =>
        command.Subcommands.SelectMany(AllCommands).Prepend(command);

    private static string Help(Command command)
    {
        var output = new StringWriter();
        var root = Commands.Cli.Build();
        var same = AllCommands(root).Single(c => PathOf(c) == PathOf(command));
        Commands.Cli.WriteHelp(root, same, output);
        return output.ToString();
    }

    private static string PathOf(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { } parent ? $"{PathOf(parent)} {command.Name}" : command.Name;

    public static TheoryData<string> CommandPaths() => [.. AllCommands(Commands.Cli.Build()).Select(PathOf)];

    [Fact]
    public async Task Bare_mcp_tunnel_prints_the_usage_and_exits_0()
    {
        var (code, output, error) = await RunAsync("/usr/bin/mcp-tunnel");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("gateway", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task A_command_group_without_its_verb_prints_its_usage()
    {
        var (code, output, _) = await RunAsync(null, "cert");
        Assert.Equal(0, code);
        Assert.Contains("mcp-tunnel cert [command]", output, StringComparison.Ordinal);
        Assert.Contains("inspect", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/setup", new[] { "renew-cert", "--output=dir:/data" }, new[] { "setup", "renew-cert", "--output=dir:/data" })]
    [InlineData("setup", new[] { "init", "-api-url=https://api.anthropic.com" }, new[] { "setup", "init", "--api-url=https://api.anthropic.com" })]
    [InlineData("/usr/local/bin/gateway", new[] { "-config", "/c.yaml" }, new[] { "gateway", "--config", "/c.yaml" })]
    [InlineData("mcp-proxy", new[] { "-config", "/c.yaml", "-tunnel-domain", "d" }, new[] { "gateway", "--config", "/c.yaml", "--tunnel-domain", "d" })]
    [InlineData("/ko-app/mcp-gateway", new string[0], new[] { "gateway" })]
    [InlineData("run", new[] { "--config", "/c.yaml" }, new[] { "run", "--config", "/c.yaml" })]
    [InlineData("run", new[] { "run", "--config", "/c.yaml" }, new[] { "run", "--config", "/c.yaml" })]
    [InlineData("/usr/bin/mcp-tunnel", new[] { "version" }, new[] { "version" })]
    [InlineData("mcp-tunnel-0.2", new[] { "demo" }, new[] { "demo" })]
    public void A_binary_named_after_a_command_runs_that_command(string argv0, string[] args, string[] expected) =>
        Assert.Equal(expected, Invocation.Normalize(args, argv0, Commands.Cli.Build()));

    [Theory]
    [InlineData("setup")]
    [InlineData("gateway")]
    [InlineData("run")]
    [InlineData("config")]
    [InlineData("mcp-proxy")]
    public async Task Any_name_the_binary_is_started_as_shows_help_instead_of_crashing(string argv0)
    {
        var (code, output, error) = await RunAsync(argv0, "--help");
        Assert.True(code == 0, error);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains($"mcp-tunnel {(argv0 == "mcp-proxy" ? "gateway" : argv0)}", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--log-format", "json", "gateway" }, "--log-format is an option of \"mcp-tunnel gateway\" and goes after it: mcp-tunnel gateway --log-format json")]
    [InlineData(new[] { "gateway", "--confg", "x.yaml" }, "mcp-tunnel gateway: unknown option --confg; did you mean --config?")]
    [InlineData(new[] { "gatewya" }, "unknown command \"gatewya\"; did you mean gateway?")]
    [InlineData(new[] { "probe", "--log-format", "json" }, "--log-format is not an option of this command (it is one of mcp-tunnel run, mcp-tunnel gateway)")]
    [InlineData(new[] { "cert", "init" }, "mcp-tunnel cert init: Option '--domain' is required.")]
    [InlineData(new[] { "cert", "init", "--domain", "a.b", "--server-key", "rsa" }, "--server-key: Argument 'rsa' not recognized. Must be one of: 'ecdsa-p256' 'rsa-4096' 'rsa-2048'")]
    [InlineData(new[] { "gateway", "--log-format", "xml" }, "--log-format: Argument 'xml' not recognized")]
    [InlineData(new[] { "gateway", "-config" }, "Required argument missing for option: '--config'")]
    [InlineData(new[] { "version", "extra" }, "mcp-tunnel version: unexpected argument \"extra\"")]
    [InlineData(new[] { "--bogus" }, "mcp-tunnel: unknown option --bogus")]
    [InlineData(new[] { "setup", "renew-cert", "--output", "s3:bucket" }, "--output=\"s3:bucket\" is not a directory")]
    [InlineData(new[] { "cert", "renew", "--output", "s3:bucket" }, "--output=\"s3:bucket\" is not a directory")]
    [InlineData(new[] { "probe", "--timeout", "5" }, "--timeout \"5\" is not a duration")]
    public async Task Usage_errors_exit_2_with_a_message_that_names_the_problem(string[] args, string expected)
    {
        var (code, output, error) = await RunAsync(null, args);
        Assert.True(code == 2, $"exit {code}\n{output}{error}");
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("Did you mean one of the following", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Usage:", error, StringComparison.Ordinal); // one line that says why, not a screen of help
    }

    [Theory]
    [InlineData(new[] { "gateway" }, McpTunnel.Logging.LogFormat.Text)]
    [InlineData(new[] { "gateway", "--log-format", "json" }, McpTunnel.Logging.LogFormat.Json)]
    [InlineData(new[] { "run", "--log-format=text" }, McpTunnel.Logging.LogFormat.Text)]
    [InlineData(new[] { "run", "--log-format", "json", "--no-connector" }, McpTunnel.Logging.LogFormat.Json)]
    public void The_log_format_word_is_read_into_its_value_by_the_command_line(string[] args, McpTunnel.Logging.LogFormat expected)
    {
        var parsed = Commands.Cli.Build().Parse(args);
        Assert.Empty(parsed.Errors);
        Assert.Equal(expected, parsed.GetValue<McpTunnel.Logging.LogFormat>("--log-format"));
    }

    [Theory]
    [InlineData("setup init -api-url https://a.example -tunnel-id tnl_1 -output=dir:/d -cert-duration 10h -token-version 2", "setup init --api-url https://a.example --tunnel-id tnl_1 --output=dir:/d --cert-duration 10h --token-version 2")]
    [InlineData("setup renew-cert -output dir:/d -renew-before=720h", "setup renew-cert --output dir:/d --renew-before=720h")]
    [InlineData("cert renew --out /d", "cert renew --output /d")]
    [InlineData("token set -out /d", "token set --output /d")]
    [InlineData("probe --arguments -config --call x", "probe --arguments -config --call x")]
    public void Go_style_single_dash_options_and_old_spellings_are_aliases(string given, string parsed)
    {
        var root = Commands.Cli.Build();
        var normalized = Invocation.Normalize(given.Split(' '), null, root);
        Assert.Equal(parsed.Split(' '), normalized);
        Assert.Empty(root.Parse(normalized).Errors);
    }

    [Fact]
    public void Nothing_after_a_double_dash_is_rewritten() =>
        Assert.Equal(["gateway", "--", "-config", "--out"], Invocation.Normalize(["gateway", "--", "-config", "--out"], null, Commands.Cli.Build()));

    [Theory]
    [MemberData(nameof(CommandPaths))]
    public void Help_shows_double_dash_options_and_placeholders_in_one_style(string path)
    {
        var command = AllCommands(Commands.Cli.Build()).Single(c => PathOf(c) == path);
        var help = Help(command);
        Assert.DoesNotMatch(SingleDashLongOption(), help);
        foreach (Match placeholder in Placeholder().Matches(help))
        {
            var text = placeholder.Groups[1].Value;
            Assert.True(text.Contains('|', StringComparison.Ordinal) || !text.Any(char.IsLower), $"placeholder <{text}> in the help of {path}");
        }
    }

    [Fact]
    public void The_credential_directory_is_spelled_output_in_every_command_that_takes_one()
    {
        var withDirectory = AllCommands(Commands.Cli.Build()).Where(c => c.Options.Any(o => o.HelpName == "DIR")).Select(PathOf).Order().ToList();
        Assert.Equal(["mcp-tunnel cert init", "mcp-tunnel cert inspect", "mcp-tunnel cert renew", "mcp-tunnel setup init", "mcp-tunnel setup renew-cert", "mcp-tunnel token set"], withDirectory);
        Assert.All(AllCommands(Commands.Cli.Build()), c => Assert.DoesNotContain(c.Options, o => o.Name == "--out"));
        Assert.All(AllCommands(Commands.Cli.Build()).SelectMany(c => c.Options).Where(o => o.HelpName == "DIR"), o => Assert.Equal("--output", o.Name));
    }

    [Fact]
    public void Setup_init_help_lists_the_environment_it_reads_and_every_server_key()
    {
        var help = Help(AllCommands(Commands.Cli.Build()).Single(c => PathOf(c) == "mcp-tunnel setup init"));
        foreach (var variable in new[] { "API_URL", "TUNNEL_ID", "API_TOKEN", "ANTHROPIC_FEDERATION_RULE_ID", "ANTHROPIC_ORGANIZATION_ID", "ANTHROPIC_WORKSPACE_ID", "ANTHROPIC_IDENTITY_TOKEN", "ANTHROPIC_IDENTITY_TOKEN_FILE", "ANTHROPIC_SERVICE_ACCOUNT_ID" })
        {
            Assert.Matches($@"(?m)^\s+{variable}\s", help);
        }

        foreach (var path in new[] { "mcp-tunnel setup init", "mcp-tunnel cert init" })
        {
            var line = Help(AllCommands(Commands.Cli.Build()).Single(c => PathOf(c) == path)).Split('\n').Single(l => l.TrimStart().StartsWith("--server-key", StringComparison.Ordinal));
            var description = line[line.IndexOf('>', StringComparison.Ordinal)..];
            Assert.All(new[] { "ecdsa-p256", "rsa-4096", "rsa-2048" }, key => Assert.Contains(key, description, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Both_renewals_say_what_their_renew_before_default_means()
    {
        var root = Commands.Cli.Build();
        var setup = Help(AllCommands(root).Single(c => PathOf(c) == "mcp-tunnel setup renew-cert"));
        var cert = Help(AllCommands(root).Single(c => PathOf(c) == "mcp-tunnel cert renew"));
        Assert.Matches(@"--renew-before <DURATION>.*0, the setup component's default, always renews.*\[default: 0\]", setup);
        Assert.Matches(@"--renew-before <DURATION>.*setup renew-cert defaults to 0.*\[default: 720h\]", cert);
    }

    [GeneratedRegex(@"(?<![\w-])-[a-z][a-z-]+")]
    private static partial Regex SingleDashLongOption();

    [GeneratedRegex(@"<([^>]+)>")]
    private static partial Regex Placeholder();
}
