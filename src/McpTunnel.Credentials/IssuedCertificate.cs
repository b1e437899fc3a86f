namespace McpTunnel.Credentials;

/// <summary>A certificate and its private key, both PEM. The key is a secret: never log it.</summary>
public sealed record IssuedCertificate(string CertificatePem, string PrivateKeyPem)
{
    public override string ToString() => "IssuedCertificate { CertificatePem = …, PrivateKeyPem = (secret) }";
}
