using System.Text;
using System.Text.Json;

namespace FakeCloudflared;

/// <summary>
/// cloudflared's ParseToken (cmd/cloudflared/tunnel/subcommands.go): <c>base64.StdEncoding.DecodeString</c> (padding
/// required, CR and LF skipped, anything else outside the alphabet refused), then Go's <c>json.Unmarshal</c> into
/// <c>connection.TunnelToken{a string; s []byte; t uuid.UUID; e string}</c>. Go's decoder matches keys without
/// regard to case, ignores unknown keys, leaves missing ones zero (so <c>{}</c> and <c>null</c> are accepted and run
/// as tunnel 00000000-…), decodes <c>s</c> as standard base64 and <c>t</c> with google/uuid's ParseBytes; a value
/// of the wrong JSON type is an error. Written independently of the product's check so that each tests the other.
/// </summary>
internal static class TokenModel
{
    public sealed record Parsed(Guid TunnelId, byte[] Secret, string Account);

    public static Parsed? Parse(string token)
    {
        var compact = token.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
        if (compact.Length % 4 != 0 || compact.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=')))
        {
            return null;
        }

        byte[] json;
        try
        {
            json = Convert.FromBase64String(compact);
        }
        catch (FormatException)
        {
            return null;
        }

        JsonDocument document;
        try
        {
            // Go replaces invalid UTF-8 inside strings instead of failing.
            document = JsonDocument.Parse(Encoding.UTF8.GetString(json));
        }
        catch (JsonException)
        {
            return null;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Null)
            {
                return new Parsed(Guid.Empty, [], "");
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            var id = Guid.Empty;
            var secret = Array.Empty<byte>();
            var account = "";
            foreach (var property in root.EnumerateObject())
            {
                var value = property.Value;
                switch (property.Name.ToUpperInvariant().Replace('ſ', 'S'))
                {
                    case "A" or "E":
                        if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                        {
                            return null;
                        }

                        if (property.Name is "a" or "A" && value.ValueKind == JsonValueKind.String)
                        {
                            account = value.GetRawText();
                        }

                        break;
                    case "S":
                        if (value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }

                        if (value.ValueKind == JsonValueKind.Array)
                        {
                            // Go fills a []byte from a JSON array of numbers 0-255 as well.
                            var bytes = new List<byte>();
                            foreach (var item in value.EnumerateArray())
                            {
                                if (item.ValueKind == JsonValueKind.Null)
                                {
                                    bytes.Add(0);
                                }
                                else if (item.ValueKind == JsonValueKind.Number && byte.TryParse(item.GetRawText(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var b))
                                {
                                    bytes.Add(b);
                                }
                                else
                                {
                                    return null;
                                }
                            }

                            secret = [.. bytes];
                            break;
                        }

                        if (value.ValueKind != JsonValueKind.String)
                        {
                            return null;
                        }

                        var text = (Text(value) ?? "!").Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
                        if (text.Length % 4 != 0 || text.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=')))
                        {
                            return null;
                        }

                        try
                        {
                            secret = Convert.FromBase64String(text);
                        }
                        catch (FormatException)
                        {
                            return null;
                        }

                        break;
                    case "T":
                        if (value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }

                        if (value.ValueKind != JsonValueKind.String || Text(value) is not { } idText || Uuid(idText) is not { } parsed)
                        {
                            return null;
                        }

                        id = parsed;
                        break;
                }
            }

            return new Parsed(id, secret, account);
        }
    }

    /// <summary>The string's value; null for an escaped lone surrogate (Go would put U+FFFD there, which no UUID or base64 text contains).</summary>
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

    /// <summary>google/uuid ParseBytes: 36 characters with dashes, 38 (first and last character not checked), urn:uuid:, or 32 hex digits.</summary>
    private static Guid? Uuid(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var s = Encoding.ASCII.GetString(bytes.Select(b => b < 128 ? b : (byte)'?').ToArray());
        switch (bytes.Length)
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

        var hex = s.Remove(23, 1).Remove(18, 1).Remove(13, 1).Remove(8, 1);
        return hex.All(char.IsAsciiHexDigit) ? Guid.ParseExact(hex, "N") : null;
    }
}
