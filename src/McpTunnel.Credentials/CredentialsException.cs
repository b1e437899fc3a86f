namespace McpTunnel.Credentials;

/// <summary>A credentials operation failed; the message says what to check.</summary>
public class CredentialsException : Exception
{
    public CredentialsException(string message) : base(message) { }

    public CredentialsException(string message, Exception inner) : base(message, inner) { }
}
