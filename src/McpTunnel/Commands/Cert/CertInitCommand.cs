using System.CommandLine;
using McpTunnel.Configuration;
using McpTunnel.Credentials;

namespace McpTunnel.Commands.Cert;

/// <summary><c>mcp-tunnel cert init</c>: a CA and a server certificate meeting every tunnel requirement, and the CA to register in the Console.</summary>
internal static class CertInitCommand
{
    public static Command Build()
    {
        var domain = new Option<string>("--domain") { Description = "The tunnel's domain, e.g. abcd1234.tunnel.anthropic.com", Required = true, HelpName = "DOMAIN" };
        var output = CredentialOptions.OutputOption();
        var serverKey = CredentialOptions.ServerKeyOption();
        var duration = CredentialOptions.DurationOption("--cert-duration", "Server certificate validity", "2160h");
        var force = new Option<bool>("--force") { Description = "Replace an existing CA (you must then register the new ca.crt)" };
        var command = new Command("init", "Make a CA and a server certificate meeting every tunnel requirement; print the CA to register in the Console")
        {
            domain, output, serverKey, duration, force,
        };
        command.SetAction(result =>
        {
            var stdout = result.InvocationConfiguration.Output;
            var stderr = result.InvocationConfiguration.Error;
            var name = result.GetValue(domain)!.Trim().TrimEnd('.').ToLowerInvariant();
            if (name.StartsWith("*.", StringComparison.Ordinal) || name.Contains('/', StringComparison.Ordinal) || !name.Contains('.', StringComparison.Ordinal))
            {
                stderr.WriteLine($"cert: --domain \"{result.GetValue(domain)}\" is not a tunnel domain such as abcd1234.tunnel.anthropic.com");
                return ExitCodes.Usage;
            }

            if (!GoDuration.TryParse(result.GetValue(duration), out var validity) || validity <= TimeSpan.Zero)
            {
                stderr.WriteLine($"cert: --cert-duration \"{result.GetValue(duration)}\" is not a positive duration such as 2160h");
                return ExitCodes.Usage;
            }

            if (CredentialOptions.ParseOutput(result.GetValue(output)!, stderr) is not { } path)
            {
                return ExitCodes.Usage;
            }

            var directory = new DataDirectory(path);
            try
            {
                if (directory.Ensure() is { } note)
                {
                    Console.Error.WriteLine($"cert: {note}");
                }

                using var directoryLock = directory.Lock();
                if (directory.Exists(DataDirectory.CaKey) && !result.GetValue(force))
                {
                    stderr.WriteLine($"cert: {directory.File(DataDirectory.CaKey)} already exists. Use `mcp-tunnel cert renew` for a new server certificate, or --force to replace the CA (then register the new ca.crt and revoke the old one)");
                    return ExitCodes.Failure;
                }

                var factory = new CertificateFactory();
                var ca = factory.CreateCertificateAuthority();
                var server = factory.CreateServerCertificate(ca, name, validity, CredentialOptions.ParseKey(result.GetValue(serverKey)!));
                directory.Write(DataDirectory.CaKey, ca.PrivateKeyPem);
                directory.Write(DataDirectory.CaCertificate, ca.CertificatePem);
                directory.Write(DataDirectory.ServerKey, server.PrivateKeyPem);
                directory.Write(DataDirectory.ServerCertificate, server.CertificatePem);
                directory.WriteValue(DataDirectory.TunnelDomain, name);
                stdout.WriteLine($"cert: wrote ca.crt, ca.key, tls.crt, tls.key and tunnel-domain to {directory.Path} (mode 0600)");
                stdout.WriteLine($"cert: server certificate for {name} and *.{name}, valid until {CertificateInspector.NotAfter(server.CertificatePem):yyyy-MM-dd}");
                stdout.WriteLine($"cert: CA fingerprint (sha256) {SetupInit.Fingerprint(ca.CertificatePem)}");
                stdout.WriteLine();
                stdout.WriteLine("Register this CA on the tunnel: Console > MCP tunnels > your tunnel > Add certificate, and paste:");
                stdout.WriteLine();
                stdout.Write(ca.CertificatePem);
                stdout.WriteLine();
                var outputFlag = directory.Path == DataDirectory.DefaultPath ? "" : $" --output {directory.Path}";
                stdout.WriteLine($"Then copy the tunnel's token from the Console and store it (checked, mode 0600): mcp-tunnel token set{outputFlag} < token.txt");
                stdout.WriteLine($"The service reads the tunnel domain from {directory.File(DataDirectory.TunnelDomain)}; tunnel_domain may stay unset in the config.");
                return ExitCodes.Ok;
            }
            catch (Exception ex) when (ex is CredentialsException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"cert: {ex.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }
}
