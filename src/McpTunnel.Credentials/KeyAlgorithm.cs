namespace McpTunnel.Credentials;

/// <summary>Key types the appliance generates (spec 3.1/3.2 allow RSA ≥ 2048 and ECDSA ≥ P-256).</summary>
public enum KeyAlgorithm
{
    /// <summary>ECDSA on P-256: the CA's type in the setup component, and our server default (cheap handshakes).</summary>
    EcdsaP256,

    /// <summary>RSA 4096: what the setup component uses for the server certificate.</summary>
    Rsa4096,

    /// <summary>RSA 2048: what the documented openssl recipe uses.</summary>
    Rsa2048,
}
