using System.Net;

namespace McpTunnel.Credentials.Api;

/// <summary>Turns API failures into messages that say what to check (spec 4.2, 5.4, 5.6 and 6.3).</summary>
internal static class ApiErrors
{
    public const string TenTunnelLimit = "Organization already has the maximum of 10 non-archived Tunnels";

    public static TunnelsApiException Describe(HttpMethod method, string path, bool exchange, HttpStatusCode status, ErrorEnvelope? envelope, string? requestId)
    {
        var type = envelope?.Error?.Type;
        var apiMessage = envelope?.Error?.Message;
        var said = $"HTTP {(int)status}{(type is null ? "" : " " + type)}{(apiMessage is null ? "" : ": " + apiMessage)}";
        var id = requestId is null ? "" : $" (request_id {requestId})";
        string advice;
        if (exchange && status == HttpStatusCode.Unauthorized)
        {
            advice = "the token exchange was refused. The API never says why (every denial is 'Authentication failed'); the reason is in the Console's authentication history. "
                + "Check that the identity token's issuer, subject and audience match the federation rule byte for byte (for example https://api.anthropic.com vs api.anthropic.com), "
                + "that the token has not expired, and that ANTHROPIC_FEDERATION_RULE_ID and ANTHROPIC_ORGANIZATION_ID are right";
        }
        else if (exchange && status == HttpStatusCode.BadRequest)
        {
            advice = "the token exchange request was malformed: check ANTHROPIC_FEDERATION_RULE_ID (fdrl_...), ANTHROPIC_ORGANIZATION_ID (a UUID) and ANTHROPIC_WORKSPACE_ID (wrkspc_... or default)";
        }
        else if (status == HttpStatusCode.Unauthorized)
        {
            advice = "the API did not accept the credentials: a Tunnels API key (API_TOKEN) may be revoked, truncated or from another organization; a federation token may have expired";
        }
        else if (status == HttpStatusCode.Forbidden)
        {
            advice = "permission denied: the federation rule's scope must include workspace:manage_tunnels, and its service account must be a member of the tunnel's workspace (Settings > Workspaces; set ANTHROPIC_WORKSPACE_ID for a non-default workspace). A Tunnels API key must come from the tunnel's organization";
        }
        else if (apiMessage?.Contains("maximum of 10", StringComparison.OrdinalIgnoreCase) == true)
        {
            advice = $"{TenTunnelLimit}: every run without a tunnel ID creates a tunnel. Archive unused tunnels in the Console, or pass --tunnel-id (TUNNEL_ID) to attach to an existing one";
        }
        else if (path.EndsWith("/certificates", StringComparison.Ordinal) && method == HttpMethod.Post && (int)status is >= 400 and < 500
            && (status == HttpStatusCode.Conflict || apiMessage?.Contains("maximum", StringComparison.OrdinalIgnoreCase) == true || apiMessage?.Contains("two", StringComparison.OrdinalIgnoreCase) == true))
        {
            advice = "the tunnel already has two active CA certificates (the limit). Revoke one in the Console (tunnel > Certificates > Revoke), or archive it with the API, then run setup again";
        }
        else if (path.EndsWith("/certificates", StringComparison.Ordinal) && method == HttpMethod.Post && status == HttpStatusCode.BadRequest)
        {
            advice = "the API refused the CA certificate; run `mcp-tunnel cert inspect` on the output directory to see which requirement it misses";
        }
        else if (status == HttpStatusCode.NotFound && path.StartsWith("v1/tunnels/", StringComparison.Ordinal))
        {
            advice = "no such tunnel in this workspace: check --tunnel-id / TUNNEL_ID (tnl_...), the tunnel-id file in the output, and ANTHROPIC_WORKSPACE_ID";
        }
        else if (status == HttpStatusCode.TooManyRequests)
        {
            advice = "rate limited; wait a minute and run setup again";
        }
        else if ((int)status >= 500)
        {
            advice = "the API failed on its side; run setup again later (it resumes where it stopped)";
        }
        else
        {
            advice = "see the API's message";
        }

        return new TunnelsApiException($"{method} /{path} failed: {said}{id}. {advice}.", status);
    }
}
