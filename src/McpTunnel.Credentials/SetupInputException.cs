namespace McpTunnel.Credentials;

/// <summary>Setup's inputs are missing or contradictory; nothing was sent anywhere.</summary>
public sealed class SetupInputException(IReadOnlyList<string> problems)
    : CredentialsException(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
