using McpTunnel.Credentials.Api;

namespace McpTunnel.Credentials;

/// <summary>How <c>setup init</c> authenticates: a Tunnels API key, or a workload identity token to exchange.</summary>
public abstract record SetupIdentity
{
    private SetupIdentity() { }

    /// <summary><c>API_TOKEN</c>: a claude.ai Tunnels API key, sent as the bearer.</summary>
    public sealed record ApiKey(string Token) : SetupIdentity
    {
        public override string ToString() => "ApiKey { Token = (secret) }";
    }

    /// <summary>Workload Identity Federation (spec 5.6).</summary>
    public sealed record Federation(string RuleId, string OrganizationId, string? WorkspaceId, string? ServiceAccountId, string? Token, string? TokenFile) : SetupIdentity
    {
        public string ReadAssertion()
        {
            if (Token is not null)
            {
                return Token.Trim();
            }

            try
            {
                return File.ReadAllText(TokenFile!).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CredentialsException($"ANTHROPIC_IDENTITY_TOKEN_FILE {TokenFile}: {ex.Message}", ex);
            }
        }

        public TokenExchangeRequest ToRequest() =>
            new(TokenExchangeRequest.JwtBearer, ReadAssertion(), RuleId, OrganizationId, WorkspaceId, ServiceAccountId);

        public override string ToString() => $"Federation {{ RuleId = {RuleId}, OrganizationId = {OrganizationId}, WorkspaceId = {WorkspaceId}, Token = (secret) }}";
    }

    /// <summary>
    /// Reads the identity from the environment exactly as the setup component does, and reports every missing
    /// or conflicting input at once, before any network call.
    /// </summary>
    public static SetupIdentity Resolve(Func<string, string?> environment)
    {
        string? Get(string name) => environment(name) is { Length: > 0 } value ? value : null;
        var apiToken = Get("API_TOKEN");
        var rule = Get("ANTHROPIC_FEDERATION_RULE_ID");
        var org = Get("ANTHROPIC_ORGANIZATION_ID");
        var workspace = Get("ANTHROPIC_WORKSPACE_ID");
        var serviceAccount = Get("ANTHROPIC_SERVICE_ACCOUNT_ID");
        var token = Get("ANTHROPIC_IDENTITY_TOKEN");
        var tokenFile = Get("ANTHROPIC_IDENTITY_TOKEN_FILE");
        var problems = new List<string>();

        var anyFederation = rule is not null || org is not null || token is not null || tokenFile is not null;
        if (apiToken is not null && anyFederation)
        {
            problems.Add("both API_TOKEN and workload identity variables (ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID, ANTHROPIC_IDENTITY_TOKEN[_FILE]) are set; use one way to authenticate and unset the other");
        }
        else if (apiToken is not null)
        {
            return new ApiKey(apiToken);
        }

        if (apiToken is null && !anyFederation)
        {
            problems.Add("no credentials: set ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID and ANTHROPIC_IDENTITY_TOKEN_FILE (or ANTHROPIC_IDENTITY_TOKEN) for workload identity, or API_TOKEN for a Tunnels API key");
        }
        else if (apiToken is null)
        {
            if (rule is null)
            {
                problems.Add("ANTHROPIC_FEDERATION_RULE_ID is not set (the federation rule, fdrl_...)");
            }
            else if (!rule.StartsWith("fdrl_", StringComparison.Ordinal))
            {
                problems.Add($"ANTHROPIC_FEDERATION_RULE_ID \"{rule}\" does not look like a federation rule ID (fdrl_...)");
            }

            if (org is null)
            {
                problems.Add("ANTHROPIC_ORGANIZATION_ID is not set (your organization's UUID)");
            }
            else if (!Guid.TryParse(org, out _))
            {
                problems.Add($"ANTHROPIC_ORGANIZATION_ID \"{org}\" is not a UUID");
            }

            if (token is not null && tokenFile is not null)
            {
                problems.Add("both ANTHROPIC_IDENTITY_TOKEN and ANTHROPIC_IDENTITY_TOKEN_FILE are set; set exactly one");
            }
            else if (token is null && tokenFile is null)
            {
                problems.Add("no identity token: set ANTHROPIC_IDENTITY_TOKEN_FILE to the path of your workload's OIDC token (or ANTHROPIC_IDENTITY_TOKEN to the token itself)");
            }
            else if (tokenFile is not null && !File.Exists(tokenFile))
            {
                problems.Add($"ANTHROPIC_IDENTITY_TOKEN_FILE {tokenFile} does not exist");
            }
        }

        if (problems.Count > 0)
        {
            throw new SetupInputException(problems);
        }

        return new Federation(rule!, org!, workspace, serviceAccount, token, tokenFile);
    }
}
