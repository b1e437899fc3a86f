using System.CommandLine;
using System.Reflection;
using McpTunnel.Configuration;
using McpTunnel.Demo;

namespace McpTunnel.Commands;

/// <summary>The command line: verbs, options and help. Each verb calls one command and returns its exit code.</summary>
internal static class Cli
{
    public static Task<int> RunAsync(string[] args)
    {
        var root = Build();
        var parse = root.Parse(RewriteProxyStyle(args));
        // Our verbs handle SIGTERM/SIGINT themselves (graceful drain); the parser must not kill the process.
        return parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>
    /// The proxy container is started as <c>-config FILE [-tunnel-domain D]</c> with no verb; the same argv
    /// runs the gateway here, so the binary can replace it in place.
    /// </summary>
    internal static string[] RewriteProxyStyle(string[] args) =>
        args.Length > 0 && args[0].StartsWith('-') && args[0].TrimStart('-').Split('=')[0] is "config" or "tunnel-domain"
            ? ["gateway", .. args]
            : args;

    internal static RootCommand Build()
    {
        var root = new RootCommand("mcp-tunnel: expose private MCP servers to Claude through an MCP tunnel, as one binary.");
        root.Subcommands.Add(RunVerb());
        root.Subcommands.Add(GatewayVerb());
        root.Subcommands.Add(ConfigVerb());
        root.Subcommands.Add(SetupCommands.Build());
        root.Subcommands.Add(CertCommands.Build());
        root.Subcommands.Add(TokenCommands.Build());
        root.Subcommands.Add(ProbeVerb());
        root.Subcommands.Add(DoctorVerb());
        root.Subcommands.Add(DemoVerb());
        root.Subcommands.Add(VersionVerb());
        return root;
    }

    private static Option<string?> ConfigOption() => new("--config", "-config", "-c")
    {
        Description = $"Configuration file (default {ConfigLoader.ApplianceDefaultPath}, else {ConfigLoader.ProxyDefaultPath})",
        HelpName = "FILE",
    };

    private static Option<string?> TunnelDomainOption() => new("--tunnel-domain", "-tunnel-domain")
    {
        Description = "Tunnel domain; overrides tunnel_domain in the file (as the proxy's -tunnel-domain does)",
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

    private static Option<string> LogFormatOption()
    {
        var format = new Option<string>("--log-format")
        {
            Description = "Log line format: text (logfmt; journald-aware) or json",
            DefaultValueFactory = _ => "text",
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
        validate.SetAction(result => ValidateCommand.Run(result.GetValue(config), result.GetValue(domain), Console.Out, Console.Error));
        return new Command("config", "Work with the configuration file") { validate };
    }

    private static Command ProbeVerb()
    {
        var config = ConfigOption();
        var gateway = new Option<string?>("--gateway") { Description = "The gateway's WebSocket listener (default from listen_addr, else ws://127.0.0.1:8080/)", HelpName = "URL" };
        var route = new Option<string?>("--route") { Description = "Route key to probe (default: the first route in the config)", HelpName = "NAME" };
        var host = new Option<string?>("--host") { Description = "Full host name to probe, for example echo.abcd1234.tunnel.anthropic.com", HelpName = "HOST" };
        var ca = new Option<string?>("--ca") { Description = "CA certificate the gateway's certificate must chain to (default: ca.crt beside tls.cert_file)", HelpName = "FILE" };
        var path = new Option<string>("--path") { Description = "The MCP endpoint path on the upstream", DefaultValueFactory = _ => "/mcp" };
        var http2 = new Option<bool>("--http2") { Description = "Use HTTP/2 inside the inner TLS instead of HTTP/1.1" };
        var insecure = new Option<bool>("--insecure") { Description = "Do not verify the gateway's certificate (diagnostics only)" };
        var call = new Option<string?>("--call") { Description = "Also call this tool after tools/list", HelpName = "TOOL" };
        var arguments = new Option<string>("--arguments") { Description = "JSON arguments for --call", DefaultValueFactory = _ => "{}", HelpName = "JSON" };
        var timeout = new Option<string>("--timeout") { Description = "Per-request timeout (Go duration)", DefaultValueFactory = _ => "30s" };
        var command = new Command("probe", "Do what the tunnel edge does: WebSocket, inner TLS with certificate checks, MCP initialize and tools/list; print timings")
        {
            config, gateway, route, host, ca, path, http2, insecure, call, arguments, timeout,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (!GoDuration.TryParse(result.GetValue(timeout), out var requestTimeout) || requestTimeout <= TimeSpan.Zero)
            {
                await Console.Error.WriteLineAsync($"--timeout \"{result.GetValue(timeout)}\" is not a duration such as 30s").ConfigureAwait(false);
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
        var api = new Option<string>("--api-target") { Description = "host:port the setup component calls", DefaultValueFactory = _ => "api.anthropic.com:443" };
        var edge = new Option<string>("--edge-target") { Description = "host:port of the tunnel edge", DefaultValueFactory = _ => "region1.v2.argotunnel.com:7844" };
        var path = new Option<string>("--path") { Description = "MCP endpoint path on the upstreams", DefaultValueFactory = _ => "/mcp" };
        var timeout = new Option<string>("--timeout") { Description = "Per-check timeout (Go duration)", DefaultValueFactory = _ => "3s" };
        var command = new Command("doctor", "Check each hop (config, files, certificate, token, cloudflared, gateway, routes, outbound) and say how to fix what fails")
        {
            config, json, api, edge, path, timeout,
        };
        command.SetAction(async (result, cancellationToken) =>
        {
            if (!GoDuration.TryParse(result.GetValue(timeout), out var perCheck) || perCheck <= TimeSpan.Zero)
            {
                await Console.Error.WriteLineAsync($"--timeout \"{result.GetValue(timeout)}\" is not a duration such as 3s").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            return await DoctorCommand.RunAsync(new DoctorCommand.Arguments(result.GetValue(config), result.GetValue(json), result.GetValue(api)!, result.GetValue(edge)!, result.GetValue(path)!, perCheck),
                Console.Out, cancellationToken).ConfigureAwait(false);
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
        var command = new Command("demo", "See it work in a minute: throwaway certificates, a sample MCP server, the gateway and a probe, all on loopback")
        {
            once, upstreamOnly,
        };
        command.SetAction((result, cancellationToken) => result.GetValue(upstreamOnly) is { } address
            ? DemoCommand.ServeUpstreamAsync(address, Console.Out, Console.Error)
            : DemoCommand.RunAsync(result.GetValue(once), Console.Out, cancellationToken));
        return command;
    }

    private static Command VersionVerb()
    {
        var command = new Command("version", "Print the version");
        command.SetAction(_ =>
        {
            Console.Out.WriteLine($"mcp-tunnel {Version}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string Version =>
        typeof(Cli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
}
