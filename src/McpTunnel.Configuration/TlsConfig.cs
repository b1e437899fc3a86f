namespace McpTunnel.Configuration;

/// <summary><c>tls:</c>, the server certificate and key the inner TLS presents (paths resolved against the configuration's directory).</summary>
public sealed record TlsConfig(string CertFile, string KeyFile);
