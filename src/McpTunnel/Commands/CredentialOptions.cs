using System.CommandLine;
using McpTunnel.Credentials;

namespace McpTunnel.Commands;

/// <summary>The options and parsers the credential verbs (<c>setup</c>, <c>cert</c>, <c>token</c>) share, so each says the same thing the same way.</summary>
internal static class CredentialOptions
{
    /// <summary>
    /// The credential directory, one option for setup, cert and token: <c>dir:PATH</c> (the setup component's form)
    /// or <c>PATH</c>. Go-style <c>-output</c> and the earlier <c>--out</c> are accepted too (<see cref="Invocation"/>).
    /// </summary>
    public static Option<string> OutputOption(string description = "Credential directory, as dir:PATH (the setup component's form) or PATH") => new("--output")
    {
        Description = description,
        DefaultValueFactory = _ => DataDirectory.DefaultPath,
        HelpName = "DIR",
    };

    public static Option<string> DurationOption(string name, string description, string fallback) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        HelpName = "DURATION",
    };

    public static Option<string> ServerKeyOption()
    {
        var serverKey = new Option<string>("--server-key")
        {
            Description = "Server key type: ecdsa-p256 (cheap handshakes), rsa-4096 (what the setup component makes) or rsa-2048 (the documented openssl recipe's)",
            DefaultValueFactory = _ => "ecdsa-p256",
        };
        serverKey.AcceptOnlyFromAmong("ecdsa-p256", "rsa-4096", "rsa-2048");
        return serverKey;
    }

    public static KeyAlgorithm ParseKey(string text) => text switch
    {
        "rsa-4096" => KeyAlgorithm.Rsa4096,
        "rsa-2048" => KeyAlgorithm.Rsa2048,
        _ => KeyAlgorithm.EcdsaP256,
    };

    /// <summary>The directory named by <c>--output</c>, or null after printing why it is not one.</summary>
    public static string? ParseOutput(string output, TextWriter error)
    {
        try
        {
            return OutputSpec.ParseDirectory(output);
        }
        catch (SetupInputException ex)
        {
            error.WriteLine($"{ex.Message}");
            return null;
        }
    }
}
