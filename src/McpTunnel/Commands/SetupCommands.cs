using System.CommandLine;
using System.Net.Http;
using McpTunnel.Configuration;
using McpTunnel.Credentials;
using McpTunnel.Credentials.Api;

namespace McpTunnel.Commands;

/// <summary><c>setup init</c> and <c>setup renew-cert</c>: the setup component's verbs, flags and environment.</summary>
internal static class SetupCommands
{
    public static Command Build()
    {
        var setup = new Command("setup", "Provision credentials like the setup component: tunnel, CA, server certificate, token");
        setup.Subcommands.Add(InitVerb());
        setup.Subcommands.Add(RenewVerb());
        return setup;
    }

    /// <summary>
    /// The credential directory, one option for setup, cert and token: <c>dir:PATH</c> (the setup component's form)
    /// or <c>PATH</c>. Go-style <c>-output</c> and the earlier <c>--out</c> are accepted too (<see cref="Invocation"/>).
    /// </summary>
    internal static Option<string> OutputOption(string description = "Credential directory, as dir:PATH (the setup component's form) or PATH") => new("--output")
    {
        Description = description,
        DefaultValueFactory = _ => DataDirectory.DefaultPath,
        HelpName = "DIR",
    };

    internal static Option<string> DurationOption(string name, string description, string fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        HelpName = "DURATION",
    };

    /// <summary>The environment <c>setup init</c> reads (spec 4.2), for its help.</summary>
    internal const string InitEnvironment = """
        Environment:
          API_URL                          the Claude API base URL when --api-url is not given
          TUNNEL_ID                        the tunnel to attach to when --tunnel-id is not given
          ANTHROPIC_FEDERATION_RULE_ID     workload identity federation: the rule (fdrl_...)
          ANTHROPIC_ORGANIZATION_ID        workload identity federation: the organization (UUID)
          ANTHROPIC_WORKSPACE_ID           optional: the workspace (wrkspc_...); default: the default workspace
          ANTHROPIC_IDENTITY_TOKEN_FILE    the OIDC token (JWT) to exchange, from a file; or:
          ANTHROPIC_IDENTITY_TOKEN         the OIDC token itself (exactly one of the two)
          ANTHROPIC_SERVICE_ACCOUNT_ID     optional; normally derived from the rule
          API_TOKEN                        a claude.ai Tunnels API key instead of federation (revoke it afterwards)
        """;

    internal static Option<string> ServerKeyOption()
    {
        var serverKey = new Option<string>("--server-key")
        {
            Description = "Server key type: ecdsa-p256 (cheap handshakes), rsa-4096 (what the setup component makes) or rsa-2048 (the documented openssl recipe's)",
            DefaultValueFactory = _ => "ecdsa-p256",
        };
        serverKey.AcceptOnlyFromAmong("ecdsa-p256", "rsa-4096", "rsa-2048");
        return serverKey;
    }

    private static Command InitVerb()
    {
        var apiUrl = new Option<string?>("--api-url") { Description = "Claude API base URL (env API_URL), e.g. https://api.anthropic.com", HelpName = "URL" };
        var tunnelId = new Option<string?>("--tunnel-id") { Description = "Tunnel to attach to, tnl_... (env TUNNEL_ID); omitted: the stored one, else a new tunnel", HelpName = "ID" };
        var output = OutputOption();
        var duration = DurationOption("--cert-duration", "Server certificate validity", "2160h");
        var tokenVersion = new Option<string?>("--token-version") { Description = "Change-detection string; a new value rotates the tunnel token", HelpName = "VERSION" };
        var serverKey = ServerKeyOption();
        var command = new Command("init", "Attach to or create a tunnel, make and register a CA, issue the server certificate, fetch the token")
        {
            apiUrl, tunnelId, output, duration, tokenVersion, serverKey,
        };
        Cli.AddHelpSection(command, InitEnvironment);
        command.SetAction(async (result, cancellationToken) =>
        {
            var stdout = result.InvocationConfiguration.Output;
            var stderr = result.InvocationConfiguration.Error;
            try
            {
                var problems = new List<string>();
                var url = result.GetValue(apiUrl) ?? Environment.GetEnvironmentVariable("API_URL");
                Uri? api = null;
                if (string.IsNullOrWhiteSpace(url))
                {
                    problems.Add("--api-url (or API_URL) is required, e.g. --api-url=https://api.anthropic.com");
                }
                else if (!Uri.TryCreate(url, UriKind.Absolute, out api) || !(api.Scheme == "https" || (api.Scheme == "http" && api.IsLoopback)))
                {
                    problems.Add($"--api-url \"{url}\" must be an https:// URL (plain http is accepted for loopback test servers only)");
                }

                if (!GoDuration.TryParse(result.GetValue(duration), out var certDuration) || certDuration <= TimeSpan.Zero)
                {
                    problems.Add($"--cert-duration \"{result.GetValue(duration)}\" is not a positive duration such as 2160h");
                }

                string? directory = null;
                try
                {
                    directory = OutputSpec.ParseDirectory(result.GetValue(output)!);
                }
                catch (SetupInputException ex)
                {
                    problems.AddRange(ex.Problems);
                }

                SetupIdentity? identity = null;
                try
                {
                    identity = SetupIdentity.Resolve(Environment.GetEnvironmentVariable);
                }
                catch (SetupInputException ex)
                {
                    problems.AddRange(ex.Problems);
                }

                if (problems.Count > 0)
                {
                    throw new SetupInputException(problems);
                }

                var tunnel = result.GetValue(tunnelId) ?? Environment.GetEnvironmentVariable("TUNNEL_ID");
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
                var client = new TunnelsApiClient(http, api!);
                var run = new SetupInit(client, identity!);
                var outcome = await run.RunAsync(new SetupInitOptions
                {
                    Output = new DataDirectory(directory!),
                    TunnelId = string.IsNullOrWhiteSpace(tunnel) ? null : tunnel,
                    CertDuration = certDuration,
                    TokenVersion = result.GetValue(tokenVersion),
                    ServerKey = ParseKey(result.GetValue(serverKey)!),
                }, line => stdout.WriteLine("setup: " + line), cancellationToken).ConfigureAwait(false);
                stdout.WriteLine($"setup: done. tunnel {outcome.TunnelId}, domain {outcome.TunnelDomain}; files in {directory}: tunnel-id, tunnel-domain, tunnel-token, ca.crt, ca.key, tls.crt, tls.key");
                stdout.WriteLine($"setup: the service reads the tunnel domain from tunnel-domain (mcp-tunnel gateway alone needs tunnel_domain: {outcome.TunnelDomain} in its config, or --tunnel-domain). Keep ca.key and tunnel-token secret.");
                return ExitCodes.Ok;
            }
            catch (SetupInputException ex)
            {
                foreach (var problem in ex.Problems)
                {
                    await stderr.WriteLineAsync("setup: " + problem).ConfigureAwait(false);
                }

                return ExitCodes.Usage;
            }
            catch (CredentialsException ex)
            {
                await stderr.WriteLineAsync("setup: " + ex.Message).ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    private static Command RenewVerb()
    {
        var output = OutputOption();
        var duration = DurationOption("--cert-duration", "New server certificate validity", "2160h");
        var renewBefore = DurationOption("--renew-before", "Skip while more validity than this remains; 0, the setup component's default, always renews (the renewal timer passes 720h)", "0");
        var command = new Command("renew-cert", "Sign a new server certificate with the stored CA; no API call, no credentials")
        {
            output, duration, renewBefore,
        };
        command.SetAction(result => RunRenewal(() => OutputSpec.ParseDirectory(result.GetValue(output)!), result.GetValue(duration)!, result.GetValue(renewBefore)!, "setup", result.InvocationConfiguration));
        return command;
    }

    internal static int RunRenewal(Func<string> directory, string durationText, string renewBeforeText, string prefix, InvocationConfiguration console)
    {
        try
        {
            var problems = new List<string>();
            if (!GoDuration.TryParse(durationText, out var duration) || duration <= TimeSpan.Zero)
            {
                problems.Add($"--cert-duration \"{durationText}\" is not a positive duration such as 2160h");
            }

            if (!GoDuration.TryParse(renewBeforeText, out var renewBefore) || renewBefore < TimeSpan.Zero)
            {
                problems.Add($"--renew-before \"{renewBeforeText}\" is not a duration such as 720h (0 always renews)");
            }

            var path = directory();
            if (problems.Count > 0)
            {
                throw new SetupInputException(problems);
            }

            var outcome = new CertificateRenewal().Renew(new DataDirectory(path), duration, renewBefore);
            console.Output.WriteLine($"{prefix}: {outcome.Reason}");
            return ExitCodes.Ok;
        }
        catch (SetupInputException ex)
        {
            foreach (var problem in ex.Problems)
            {
                console.Error.WriteLine($"{prefix}: {problem}");
            }

            return ExitCodes.Usage;
        }
        catch (CredentialsException ex)
        {
            console.Error.WriteLine($"{prefix}: {ex.Message}");
            return ExitCodes.Failure;
        }
    }

    internal static KeyAlgorithm ParseKey(string text) => text switch
    {
        "rsa-4096" => KeyAlgorithm.Rsa4096,
        "rsa-2048" => KeyAlgorithm.Rsa2048,
        _ => KeyAlgorithm.EcdsaP256,
    };
}
