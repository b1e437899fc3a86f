using System.Text;
using System.Text.Json;

namespace McpTunnel.Credentials;

/// <summary>
/// The cloudflared connector token, checked by cloudflared's own rules before it is stored (<c>token set</c>) or
/// reported on (<c>doctor</c>), so a paste error shows up here and not as cloudflared exiting 255 minutes later.
/// </summary>
/// <remarks>
/// cloudflared's ParseToken (cmd/cloudflared/tunnel/subcommands.go, source at 2026.8.2): the token file's content,
/// trimmed of surrounding whitespace, is decoded with Go's <c>base64.StdEncoding</c> (standard alphabet, padding
/// required, CR and LF skipped, anything else refused) and unmarshalled with Go's <c>encoding/json</c> into
/// <c>connection.TunnelToken{ a string; s []byte; t uuid.UUID; e string }</c>. Go's decoder matches keys without
/// regard to case, ignores unknown keys, accepts <c>null</c> for any of them and leaves missing ones zero, decodes
/// <c>s</c> as standard base64 (or a JSON array of bytes), parses <c>t</c> with google/uuid (36 characters with
/// dashes, 38 with braces, <c>urn:uuid:</c>, or 32 hex digits), and fails on a value of the wrong type. A failure
/// is "Provided Tunnel token is not valid." and exit 255. A token that parses but has no tunnel ID, secret or
/// account tag starts but can never register, so it is refused here too, with that reason.
/// </remarks>
public static class TunnelToken
{
    /// <summary>Null when <paramref name="token"/> is a usable connector token, else what is wrong with it.</summary>
    public static string? Problem(string token)
    {
        if (token.Length == 0)
        {
            return "it is empty";
        }

        // Go's base64 decoder skips line breaks (a token copied across lines still works), nothing else.
        var compact = token.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
        if (compact.Any(char.IsWhiteSpace))
        {
            return "it contains whitespace inside (a space or tab from copying?)";
        }

        if (StdBase64(compact) is not { } json)
        {
            return "it is not base64 (standard alphabet, with its = padding)";
        }

        JsonDocument document;
        try
        {
            // Go replaces invalid UTF-8 inside strings rather than failing; so does the decoding here.
            document = JsonDocument.Parse(Encoding.UTF8.GetString(json));
        }
        catch (JsonException)
        {
            return "it does not decode to JSON";
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Null)
            {
                return Unusable(hasId: false, hasSecret: false, hasAccount: false);
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return "it is not a JSON object";
            }

            bool hasId = false, hasSecret = false, hasAccount = false;
            foreach (var property in root.EnumerateObject())
            {
                var value = property.Value;
                switch (Fold(property.Name))
                {
                    case "A":
                        if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                        {
                            return "its \"a\" is not a string";
                        }

                        hasAccount = value.ValueKind == JsonValueKind.String ? value.GetRawText().Length > 2 : hasAccount;
                        break;
                    case "E":
                        if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                        {
                            return "its \"e\" is not a string";
                        }

                        break;
                    case "T":
                        if (value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }

                        if (value.ValueKind != JsonValueKind.String || Text(value) is not { } id || Uuid(id) is not { } parsed)
                        {
                            return "its \"t\" is not a UUID (the tunnel ID)";
                        }

                        hasId = parsed != Guid.Empty;
                        break;
                    case "S":
                        switch (value.ValueKind)
                        {
                            case JsonValueKind.Null:
                                break;
                            case JsonValueKind.String:
                                var secret = (Text(value) ?? "!").Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
                                if (StdBase64(secret) is not { } bytes)
                                {
                                    return "its \"s\" is not base64 (the tunnel secret)";
                                }

                                hasSecret = bytes.Length > 0;
                                break;
                            case JsonValueKind.Array:
                                var count = 0;
                                foreach (var item in value.EnumerateArray())
                                {
                                    if (item.ValueKind != JsonValueKind.Null
                                        && !(item.ValueKind == JsonValueKind.Number && byte.TryParse(item.GetRawText(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)))
                                    {
                                        return "its \"s\" is neither base64 nor a list of bytes";
                                    }

                                    count++;
                                }

                                hasSecret = count > 0;
                                break;
                            default:
                                return "its \"s\" is neither base64 nor a list of bytes";
                        }

                        break;
                }
            }

            return Unusable(hasId, hasSecret, hasAccount);
        }
    }

    private static string? Unusable(bool hasId, bool hasSecret, bool hasAccount) =>
        !hasId ? "it has no tunnel ID (\"t\"): cloudflared would start with it but the edge would refuse it"
        : !hasSecret ? "it has no secret (\"s\"): cloudflared would start with it but the edge would refuse it"
        : !hasAccount ? "it has no account tag (\"a\"): cloudflared would start with it but the edge would refuse it"
        : null;

    /// <summary>The token as it is stored: cloudflared skips line breaks inside it, so they are dropped.</summary>
    public static string Normalize(string token) => token.Trim().Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);

    /// <summary>Go's key folding for a field of one letter (encoding/json foldName): ASCII upper case, plus ſ for s.</summary>
    private static string Fold(string name) => name switch
    {
        "a" or "A" => "A",
        "e" or "E" => "E",
        "t" or "T" => "T",
        "s" or "S" or "\u017F" => "S",
        _ => name,
    };

    /// <summary>Go's base64.StdEncoding.DecodeString on a string without line breaks: null when Go refuses it.</summary>
    private static byte[]? StdBase64(string text)
    {
        // .NET would also skip spaces and tabs, which Go refuses.
        if (text.Length % 4 != 0 || text.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=')))
        {
            return null;
        }

        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The string's value; null for an escaped lone surrogate (Go puts U+FFFD there, which no UUID or base64 holds).</summary>
    private static string? Text(JsonElement value)
    {
        try
        {
            return value.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>google/uuid ParseBytes: 36 characters with dashes, 38 (the outer two not checked), urn:uuid:, or 32 hex digits.</summary>
    private static Guid? Uuid(string text)
    {
        // Lengths are in bytes, as in Go.
        var bytes = Encoding.UTF8.GetBytes(text);
        var s = new string(bytes.Select(b => b < 0x80 ? (char)b : '\uFFFD').ToArray());
        switch (s.Length)
        {
            case 32:
                return s.All(char.IsAsciiHexDigit) ? Guid.ParseExact(s, "N") : null;
            case 36:
                break;
            case 38:
                s = s[1..37];
                break;
            case 45 when s[..9].Equals("urn:uuid:", StringComparison.OrdinalIgnoreCase):
                s = s[9..];
                break;
            default:
                return null;
        }

        if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
        {
            return null;
        }

        var hex = s[..8] + s[9..13] + s[14..18] + s[19..23] + s[24..];
        return hex.All(char.IsAsciiHexDigit) ? Guid.ParseExact(hex, "N") : null;
    }
}
