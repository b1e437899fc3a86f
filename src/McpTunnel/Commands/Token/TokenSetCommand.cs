using System.CommandLine;
using McpTunnel.Credentials;

namespace McpTunnel.Commands.Token;

/// <summary>
/// <c>mcp-tunnel token set</c>: the manual flow's way to store the token from the Console in the data directory,
/// atomically and 0600, after checking that it is a connector token. The token is read from standard input so it
/// never appears in argv or shell history.
/// </summary>
internal static class TokenSetCommand
{
    public static Command Build()
    {
        var output = CredentialOptions.OutputOption();
        var set = new Command("set", "Read the token from standard input, check it and write DIR/tunnel-token (mode 0600, atomic)")
        {
            output,
        };
        set.SetAction(result => CredentialOptions.ParseOutput(result.GetValue(output)!, result.InvocationConfiguration.Error) is { } path
            ? Set(path, Console.In, result.InvocationConfiguration.Output, result.InvocationConfiguration.Error)
            : ExitCodes.Usage);
        return set;
    }

    /// <summary>The most standard input <c>token set</c> reads; a connector token is a few hundred characters.</summary>
    internal const int MaxInputChars = 64 * 1024;

    internal static int Set(string outputPath, TextReader input, TextWriter output, TextWriter error)
    {
        // Read at most a little more than any token: `token set < /dev/zero` (or a wrong, huge file) must end with
        // an error instead of reading until memory runs out.
        var buffer = new char[MaxInputChars + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = input.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        if (length > MaxInputChars)
        {
            error.WriteLine($"token: the input is longer than {MaxInputChars / 1024} KiB, so it is not a cloudflared connector token (those are a few hundred characters). Paste the token from the Console on standard input, e.g. `mcp-tunnel token set < token.txt`; nothing was written");
            return ExitCodes.Usage;
        }

        var value = new string(buffer, 0, length).Trim();
        if (TunnelToken.Problem(value) is { } problem)
        {
            error.WriteLine($"token: the input is not a cloudflared connector token: {problem}. Paste the token from the Console (it starts with eyJ) on standard input, e.g. `mcp-tunnel token set < token.txt`; nothing was written");
            return ExitCodes.Usage;
        }

        // A token copied across lines is stored on one (cloudflared skips the line breaks; so does the check).
        value = TunnelToken.Normalize(value);
        var directory = new DataDirectory(outputPath);
        try
        {
            if (directory.Ensure() is { } note)
            {
                error.WriteLine($"token: {note}");
            }

            using var directoryLock = directory.Lock();
            var previous = directory.ReadValue(DataDirectory.TunnelToken);
            directory.WriteValue(DataDirectory.TunnelToken, value);
            output.WriteLine(previous == value
                ? $"token: {directory.File(DataDirectory.TunnelToken)} already holds this token; nothing changed"
                : $"token: wrote {directory.File(DataDirectory.TunnelToken)} (mode 0600); start the service with `systemctl start mcp-tunnel` (a running service picks a changed token up within 10 s)");
            return ExitCodes.Ok;
        }
        catch (Exception ex) when (ex is CredentialsException or IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"token: {ex.Message}");
            return ExitCodes.Failure;
        }
    }
}
