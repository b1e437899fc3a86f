using System.Text.Json;

namespace McpTunnel.Credentials;

/// <summary>
/// The cloudflared connector token: base64 of a JSON object with the account tag <c>a</c>, the tunnel id
/// <c>t</c> and the secret <c>s</c> (so it starts with <c>eyJ</c>). Checked before it is stored, so a paste
/// error shows up here and not as cloudflared failing to connect minutes later.
/// </summary>
public static class TunnelToken
{
    /// <summary>Null when <paramref name="token"/> looks like a connector token, else what is wrong with it.</summary>
    public static string? Problem(string token)
    {
        if (token.Length == 0)
        {
            return "it is empty";
        }

        if (token.Any(char.IsWhiteSpace))
        {
            return "it contains whitespace inside (a line break from copying?)";
        }

        byte[] json;
        try
        {
            // Standard, padded base64 only: cloudflared decodes the token with Go's base64.StdEncoding, so a
            // URL-safe or unpadded form would be stored here and then refused by cloudflared (exit 255).
            json = Convert.FromBase64String(token);
        }
        catch (FormatException)
        {
            return "it is not base64 (standard alphabet, with its = padding)";
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return "it does not decode to a JSON object";
            }

            foreach (var field in new[] { "a", "t", "s" })
            {
                if (!document.RootElement.TryGetProperty(field, out var value) || value.ValueKind != JsonValueKind.String || value.GetString()!.Length == 0)
                {
                    return $"its JSON has no \"{field}\" field";
                }
            }
        }
        catch (JsonException)
        {
            return "it does not decode to JSON";
        }

        return null;
    }
}
