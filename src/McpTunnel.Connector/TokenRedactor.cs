using System.Text.RegularExpressions;

namespace McpTunnel.Connector;

/// <summary>
/// Removes the tunnel token, and anything shaped like one, from the child's output before it reaches our
/// log (cloudflared prints the token in its usage text; spec cloudflared.md 1.2).
/// </summary>
public sealed partial class TokenRedactor
{
    private volatile string? _token;

    public void SetToken(string? token) => _token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();

    public string Redact(string line)
    {
        var token = _token;
        if (token is not null && line.Contains(token, StringComparison.Ordinal))
        {
            line = line.Replace(token, "[REDACTED]", StringComparison.Ordinal);
        }

        return TokenShape().Replace(line, "[REDACTED]");
    }

    /// <summary>Base64 of a JSON object (<c>eyJ…</c>) long enough to be a connector token or a JWT.</summary>
    [GeneratedRegex(@"eyJ[A-Za-z0-9+/_\-=.]{20,}")]
    private static partial Regex TokenShape();
}
