using System.CommandLine;
using McpTunnel.Configuration;
using McpTunnel.Credentials;
using McpTunnel.Credentials.Api;

namespace McpTunnel.Commands.Setup;

/// <summary><c>mcp-tunnel setup init</c>: attach to or create a tunnel, register a CA, issue the certificate, fetch the token; flags and environment as the setup component's.</summary>
internal static class SetupInitCommand
{
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

    public static Command Build()
    {
        var apiUrl = new Option<string?>("--api-url") { Description = "Claude API base URL (env API_URL), e.g. https://api.anthropic.com", HelpName = "URL" };
        var tunnelId = new Option<string?>("--tunnel-id") { Description = "Tunnel to attach to, tnl_... (env TUNNEL_ID); omitted: the stored one, else a new tunnel", HelpName = "ID" };
        var output = CredentialOptions.OutputOption();
        var duration = CredentialOptions.DurationOption("--cert-duration", "Server certificate validity", "2160h");
        var tokenVersion = new Option<string?>("--token-version") { Description = "Change-detection string; a new value rotates the tunnel token", HelpName = "VERSION" };
        var serverKey = CredentialOptions.ServerKeyOption();
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
                    ServerKey = CredentialOptions.ParseKey(result.GetValue(serverKey)!),
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
}
