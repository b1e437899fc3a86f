using System.CommandLine;

namespace McpTunnel.Commands.Cert;

/// <summary><c>mcp-tunnel cert</c>: the offline certificate flow for air-gapped labs: no API, no openssl.</summary>
internal static class CertCommand
{
    public static Command Build()
    {
        var cert = new Command("cert", "Offline certificates (the manual flow): make, renew and check a CA and server certificate");
        cert.Subcommands.Add(CertInitCommand.Build());
        cert.Subcommands.Add(CertRenewCommand.Build());
        cert.Subcommands.Add(CertInspectCommand.Build());
        return cert;
    }
}
