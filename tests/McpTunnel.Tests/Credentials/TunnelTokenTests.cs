using System.Text;
using McpTunnel.Credentials;

namespace McpTunnel.Tests.Credentials;

/// <summary>
/// The token check of <c>token set</c> and <c>doctor</c> against cloudflared's own ParseToken (base64.StdEncoding,
/// then Go's encoding/json into {a string; s []byte; t uuid.UUID; e string}). Each case says what cloudflared does.
/// </summary>
public sealed class TunnelTokenTests
{
    private const string Id = "6f6c1b0e-8a0e-4c56-9d0b-2f4b6a1e3c7d";
    private static readonly string Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json));

    public static TheoryData<string, string> Refused => new()
    {
        // cloudflared exits 255 "Provided Tunnel token is not valid." for each of these.
        { Encode($$"""{"a":"acct","t":"not-a-uuid","s":"{{Secret}}"}"""), "\"t\" is not a UUID" },
        { Encode($$"""{"a":"acct","t":"{{Id}}x","s":"{{Secret}}"}"""), "\"t\" is not a UUID" },
        { Encode($$"""{"a":"acct","t":"{{Id.Replace('-', 'x')}}","s":"{{Secret}}"}"""), "\"t\" is not a UUID" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"not base64!"}"""), "\"s\" is not base64" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret.TrimEnd('=')}}"}"""), "\"s\" is not base64" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret.Replace('/', '_').Replace('+', '-')}}_-"}"""), "\"s\" is not base64" },
        { Encode($$$"""{"a":"acct","t":"{{{Id}}}","s":{"x":1}}"""), "\"s\"" },
        { Encode($$"""{"a":7,"t":"{{Id}}","s":"{{Secret}}"}"""), "\"a\" is not a string" },
        { Encode($$"""{"a":"acct","t":12,"s":"{{Secret}}"}"""), "\"t\" is not a UUID" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}","e":false}"""), "\"e\" is not a string" },
        { Encode("[1,2]"), "not a JSON object" },
        { Encode("\"eyJ\""), "not a JSON object" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}"} x"""), "does not decode to JSON" },
        { "bm90IGpzb24=", "does not decode to JSON" },
        { "eyJh Yi", "whitespace" },
        { "%%%%", "not base64" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}"}""").TrimEnd('='), "not base64" },
        // Tokens cloudflared would start with but that can never connect.
        { Encode("{}"), "no tunnel ID" },
        { Encode("null"), "no tunnel ID" },
        { Encode($$"""{"a":"acct","s":"{{Secret}}"}"""), "no tunnel ID" },
        { Encode($$"""{"a":"acct","t":"{{Id}}"}"""), "no secret" },
        { Encode($$"""{"a":"acct","t":"{{Id}}","s":null}"""), "no secret" },
        { Encode($$"""{"t":"{{Id}}","s":"{{Secret}}"}"""), "no account" },
    };

    public static TheoryData<string> Accepted => new()
    {
        // cloudflared accepts each of these: google/uuid's other forms, Go's case-insensitive keys, an endpoint,
        // unknown keys, a byte array for the secret, line breaks inside the base64 (Go's decoder skips CR and LF).
        Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}"}"""),
        Encode($$"""{"a":"acct","t":"{{Id.ToUpperInvariant()}}","s":"{{Secret}}"}"""),
        Encode($$"""{"a":"acct","t":"{{Id.Replace("-", "", StringComparison.Ordinal)}}","s":"{{Secret}}"}"""),
        Encode($$"""{"a":"acct","t":"{{{Id}}}","s":"{{Secret}}"}"""),
        Encode($$"""{"a":"acct","t":"urn:uuid:{{Id}}","s":"{{Secret}}"}"""),
        Encode($$"""{"A":"acct","T":"{{Id}}","S":"{{Secret}}"}"""),
        Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}","e":"fed.argotunnel.com","x":[1,{"y":null}]}"""),
        Encode($$"""{"a":"acct","t":"{{Id}}","s":[1,2,3,255]}"""),
        Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret[..8]}}\r\n{{Secret[8..]}}"}"""),
        Encode($$"""{"a":"acct","t":null,"t":"{{Id}}","s":"{{Secret}}"}"""),
        Encode($$""" {"a":"acct","t":"{{Id}}","s":"{{Secret}}"} """),
        InsertLineBreak(Encode($$"""{"a":"acct","t":"{{Id}}","s":"{{Secret}}"}""")),
    };

    private static string InsertLineBreak(string token) => token[..20] + "\n" + token[20..];

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_token_cloudflared_cannot_use_is_refused_with_the_reason(string token, string reason)
    {
        var problem = TunnelToken.Problem(token);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Accepted))]
    public void A_token_cloudflared_accepts_is_accepted(string token)
    {
        Assert.Null(TunnelToken.Problem(token));
    }
}
