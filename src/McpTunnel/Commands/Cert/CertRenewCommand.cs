using System.CommandLine;
using McpTunnel.Commands.Setup;
using McpTunnel.Credentials;

namespace McpTunnel.Commands.Cert;

/// <summary><c>mcp-tunnel cert renew</c>: the manual flow's renewal, <c>setup renew-cert</c> with a default that skips a certificate far from expiry.</summary>
internal static class CertRenewCommand
{
    public static Command Build()
    {
        var output = CredentialOptions.OutputOption();
        // Unlike setup renew-cert (0, the setup component's default), renewing by hand in the manual flow skips a
        // certificate that is far from expiry, as certbot renew does; both say so in their help.
        var renewBefore = CredentialOptions.DurationOption("--renew-before", "Skip while more validity than this remains; 0 always renews (setup renew-cert defaults to 0, as the setup component does)", "720h");
        var duration = CredentialOptions.DurationOption("--cert-duration", "New server certificate validity", "2160h");
        var command = new Command("renew", "Sign a new server certificate with the CA in the directory (the manual flow's renewal)")
        {
            output, renewBefore, duration,
        };
        command.SetAction(result => SetupRenewCertCommand.RunRenewal(() => OutputSpec.ParseDirectory(result.GetValue(output)!), result.GetValue(duration)!, result.GetValue(renewBefore)!, "cert", result.InvocationConfiguration));
        return command;
    }
}
