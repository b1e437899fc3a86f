namespace McpTunnel.Gateway.Tls;

/// <summary>The certificate pair cannot be used; the message names the file and the fix.</summary>
public sealed class CertificateLoadException : Exception
{
    public CertificateLoadException(string message) : base(message) { }

    public CertificateLoadException(string message, Exception inner) : base(message, inner) { }
}
