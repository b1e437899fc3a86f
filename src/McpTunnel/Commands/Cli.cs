using System.CommandLine;
using System.CommandLine.Help;
using System.Reflection;
using McpTunnel.Commands.Cert;
using McpTunnel.Commands.Setup;
using McpTunnel.Commands.Token;
using McpTunnel.Configuration;
using McpTunnel.Demo;
using McpTunnel.Hosting;
using McpTunnel.Logging;

namespace McpTunnel.Commands;

/// <summary>The command line: verbs, options and help. Each verb calls one command and returns its exit code.</summary>
internal static class Cli
{
    /// <summary>The name the parser and help use, whatever the binary is called (decision 0010).</summary>
    public const string Name = "mcp-tunnel";

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    /// <summary>Parses and runs <paramref name="args"/>, already normalized by <see cref="Invocation.Normalize"/>.</summary>
    internal static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = Build();
        if (args is [] or ["-h" or "--help" or "-?" or "help"])
        {
            // Bare mcp-tunnel: the usage summary, as `docker` or `kubectl` do; asking is not an error.
            WriteHelp(root, root, output);
            return ExitCodes.Ok;
        }

        if (args is ["--version"])
        {
            args = ["version"];
        }

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            var command = parse.CommandResult.Command;
            if (command.Subcommands.Count > 0 && command.Action is null && parse.UnmatchedTokens.Count == 0)
            {
                // A command group without its verb (mcp-tunnel cert): that group's usage.
                WriteHelp(root, command, output);
                return ExitCodes.Ok;
            }

            return UsageErrors.Report(parse, root, error);
        }

        // Our verbs handle SIGTERM/SIGINT themselves (graceful drain); the parser must not kill the process.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, Output = output, Error = error }).ConfigureAwait(false);
    }

    /// <summary>Writes the usage of <paramref name="command"/> (a node of <paramref name="root"/>) to <paramref name="output"/>.</summary>
    internal static void WriteHelp(Command root, Command command, TextWriter output)
    {
        var path = new List<string>();
        for (var c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            path.Insert(0, c.Name);
        }

        root.Parse([.. path, "--help"]).Invoke(new InvocationConfiguration { Output = output });
    }

    /// <summary>Extra help text after the options (for example the environment a command reads).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Command, string> HelpSections = [];

    internal static void AddHelpSection(Command command, string text) => HelpSections.AddOrUpdate(command, text);

    /// <summary>The parser's help, then the command's extra section if it has one.</summary>
    private sealed class HelpWithSections(HelpAction standard) : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = standard.Invoke(parseResult);
            if (HelpSections.TryGetValue(parseResult.CommandResult.Command, out var extra))
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine(extra.TrimEnd());
                output.WriteLine();
            }

            return code;
        }
    }

    internal static Command Build()
    {
        var root = new Command(Name, "mcp-tunnel: expose private MCP servers to Claude through an MCP tunnel, as one binary.");
        var help = new HelpOption();
        help.Action = new HelpWithSections((HelpAction)help.Action!);
        root.Options.Add(help);
        root.Subcommands.Add(RunVerb());
        root.Subcommands.Add(GatewayVerb());
        root.Subcommands.Add(ConfigVerb());
        root.Subcommands.Add(SetupCommand.Build());
        root.Subcommands.Add(CertCommand.Build());
        root.Subcommands.Add(TokenCommand.Build());
        root.Subcommands.Add(ProbeVerb());
        root.Subcommands.Add(DoctorVerb());
        root.Subcommands.Add(DemoVerb());
        root.Subcommands.Add(CompletionVerb(root));
        root.Subcommands.Add(VersionVerb());
        return root;
    }

    private static Option<string?> ConfigOption() => new("--config", "-c")
    {
        Description = $"Configuration file (default {ConfigLoader.ApplianceDefaultPath}, else {ConfigLoader.ProxyDefaultPath})",
        HelpName = "FILE",
    };

    private static Option<string?> TunnelDomainOption() => new("--tunnel-domain")
    {
        Description = "Tunnel domain; overrides tunnel_domain in the file, as the proxy's flag of that name does",
        HelpName = "DOMAIN",
    };

    private static Command GatewayVerb()
    {
        var config = ConfigOption();
        var domain = TunnelDomainOption();
        var format = LogFormatOption();
        var command = new Command("gateway", "Run the gateway alone (the role of the mcp-proxy container): WebSocket in, inner TLS, routing, forwarding")
        {
            config, domain, format,
        };
        command.SetAction((result, _) => GatewayCommand.RunAsync(result.GetValue(config), result.GetValue(domain), result.GetValue(format)!));
        return command;
    }

    private static Option<LogFormat> LogFormatOption()
    {
        var format = new Option<LogFormat>("--log-format")
        {
            Description = "Log line format: text (logfmt; journald-aware) or json",
            DefaultValueFactory = _ => LogFormat.Text,
            // The word is checked by AcceptOnlyFromAmong (its error and completions); this only turns it into the value.
            CustomParser = result => result.Tokens is [{ Value: "json" }] ? LogFormat.Json : LogFormat.Text,
        };
        format.AcceptOnlyFromAmong("text", "json");
        return format;
    }

    private static Command RunVerb()
    {
        var config = ConfigOption();
        var domain = TunnelDomainOption();
        var format = LogFormatOption();
        var noConnector = new Option<bool>("--no-connector") { Description = "Run the gateway and health listener without the cloudflared child (cloudflared runs elsewhere)" };
        var command = new Command("run", "What the service runs: the gateway, the supervised cloudflared, health and metrics, systemd notification")
        {
            config, domain, format, noConnector,
        };
        command.SetAction((result, _) => McpTunnel.Run.RunCommand.RunAsync(result.GetValue(config), result.GetValue(domain), result.GetValue(format)!, result.GetValue(noConnector)));
        return command;
    }

    private static Command ConfigVerb()
    {
        var config = ConfigOption();
        var domain = TunnelDomainOption();
        var validate = new Command("validate", "Check a configuration file and report every problem with its line and column; exit 0 or 1")
        {
            config, domain,
        };
        validate.SetAction((result, cancellationToken) => ValidateCommand.RunAsync(result.GetValue(config), result.GetValue(domain),
            result.InvocationConfiguration.Output, result.InvocationConfiguration.Error, cancellationToken: cancellationToken));
        return new Command("config", "Work with the configuration file") { validate };
    }

    private static Command ProbeVerb()
    {
        var config = ConfigOption();
        var gateway = new Option<string?>("--gateway") { Description = "The gateway's WebSocket listener (default from listen_addr, else ws://127.0.0.1:8080/)", HelpName = "URL" };
        var route = new Option<string?>("--route") { Description = "Route key to probe (default: the first route in the config)", HelpName = "NAME" };
        var host = new Option<string?>("--host") { Description = "Full host name to probe, for example echo.abcd1234.tunnel.anthropic.com", HelpName = "HOST" };
        var ca = new Option<string?>("--ca") { Description = "CA certificate the gateway's certificate must chain to (default: ca.crt beside tls.cert_file)", HelpName = "FILE" };
        var path = new Option<string>("--path") { Description = "The MCP endpoint path on the upstream", DefaultValueFactory = _ => "/mcp", HelpName = "PATH" };
        var http2 = new Option<bool>("--http2") { Description = "Use HTTP/2 inside the inner TLS instead of HTTP/1.1" };
        var insecure = new Option<bool>("--insecure") { Description = "Do not verify the gateway's certificate (diagnostics only)" };
        var call = new Option<string?>("--call") { Description = "Also call this tool after tools/list", HelpName = "TOOL" };
        var arguments = new Option<string>("--arguments") { Description = "JSON arguments for --call", DefaultValueFactory = _ => "{}", HelpName = "JSON" };
        var timeout = new Option<string>("--timeout") { Description = "Per-request timeout (Go duration)", DefaultValueFactory = _ => "30s", HelpName = "DURATION" };
        var command = new Command("probe", "Do what the tunnel edge does: WebSocket, inner TLS with certificate checks, MCP initialize and tools/list; print timings")
        {
            config, gateway, route, host, ca, path, http2, insecure, call, arguments, timeout,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (!GoDuration.TryParse(result.GetValue(timeout), out var requestTimeout) || requestTimeout <= TimeSpan.Zero)
            {
                await result.InvocationConfiguration.Error.WriteLineAsync($"--timeout \"{result.GetValue(timeout)}\" is not a duration such as 30s").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            using var signal = new ShutdownSignal();
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, signal.Token);
            return await ProbeCommand.RunAsync(new ProbeCommand.Arguments(
                result.GetValue(config), result.GetValue(gateway), result.GetValue(route), result.GetValue(host), result.GetValue(ca),
                result.GetValue(path)!, result.GetValue(http2), result.GetValue(insecure), result.GetValue(call), result.GetValue(arguments)!, requestTimeout),
                Console.Out, Console.Error, linked.Token).ConfigureAwait(false);
        });
        return command;
    }

    private static Command DoctorVerb()
    {
        var config = ConfigOption();
        var json = new Option<bool>("--json") { Description = "Print the checks as JSON" };
        var api = new Option<string>("--api-target") { Description = "host:port the setup component calls", DefaultValueFactory = _ => "api.anthropic.com:443", HelpName = "HOST:PORT" };
        var edge = new Option<string>("--edge-target") { Description = "host:port of the tunnel edge", DefaultValueFactory = _ => "region1.v2.argotunnel.com:7844", HelpName = "HOST:PORT" };
        var path = new Option<string>("--path") { Description = "MCP endpoint path on the upstreams", DefaultValueFactory = _ => "/mcp", HelpName = "PATH" };
        var timeout = new Option<string>("--timeout") { Description = "Per-check timeout (Go duration)", DefaultValueFactory = _ => "3s", HelpName = "DURATION" };
        var offline = new Option<bool>("--offline") { Description = "The host is offline by design: skip the outbound API and edge checks (appliance.offline: true does the same)" };
        var command = new Command("doctor", "Check each hop (config, files, certificate, token, cloudflared, gateway, routes, outbound) and say how to fix what fails")
        {
            config, json, api, edge, path, timeout, offline,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (!GoDuration.TryParse(result.GetValue(timeout), out var perCheck) || perCheck <= TimeSpan.Zero)
            {
                await result.InvocationConfiguration.Error.WriteLineAsync($"--timeout \"{result.GetValue(timeout)}\" is not a duration such as 3s").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            return await DoctorCommand.RunAsync(new DoctorCommand.Arguments(result.GetValue(config), result.GetValue(json), result.GetValue(api)!, result.GetValue(edge)!, result.GetValue(path)!, perCheck, result.GetValue(offline)),
                result.InvocationConfiguration.Output, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static Command DemoVerb()
    {
        var once = new Option<bool>("--once") { Description = "Exit after the probe instead of running until Ctrl-C" };
        var upstreamOnly = new Option<string?>("--upstream-only")
        {
            Description = "Run only the sample MCP server (tool hello, endpoint /mcp) on this host:port until stopped: a known-good upstream for checking a real tunnel end to end",
            HelpName = "ADDR",
        };
        var verbose = new Option<bool>("--verbose") { Description = "Also show the gateway's log lines (one per request); by default only warnings" };
        var command = new Command("demo", "See it work in a minute: throwaway certificates, a sample MCP server, the gateway and a probe, all on loopback")
        {
            once, upstreamOnly, verbose,
        };
        command.SetAction((result, cancellationToken) => result.GetValue(upstreamOnly) is { } address
            ? DemoCommand.ServeUpstreamAsync(address, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error)
            : DemoCommand.RunAsync(result.GetValue(once), result.GetValue(verbose), result.InvocationConfiguration.Output, cancellationToken));
        return command;
    }

    private static Command CompletionVerb(Command root)
    {
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "Print the shell completion script (the packages install it already)")
        {
            shell,
        };
        AddHelpSection(command, """
            Examples:
              mcp-tunnel completion bash > ~/.local/share/bash-completion/completions/mcp-tunnel
              mcp-tunnel completion zsh > "${fpath[1]}/_mcp-tunnel"
            """);
        command.SetAction(result =>
        {
            result.InvocationConfiguration.Output.Write(result.GetValue(shell) == "zsh" ? CompletionScript.Zsh(root) : CompletionScript.Bash(root));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command VersionVerb()
    {
        var command = new Command("version", "Print the version");
        command.SetAction(result =>
        {
            result.InvocationConfiguration.Output.WriteLine($"mcp-tunnel {Version}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string Version =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
