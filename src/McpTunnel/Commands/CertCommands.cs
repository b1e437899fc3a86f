using System.CommandLine;
using McpTunnel.Configuration;
using McpTunnel.Credentials;

namespace McpTunnel.Commands;

/// <summary>The offline certificate flow for air-gapped labs: no API, no openssl.</summary>
internal static class CertCommands
{
    public static Command Build()
    {
        var cert = new Command("cert", "Offline certificates (the manual flow): make, renew and check a CA and server certificate");
        cert.Subcommands.Add(InitVerb());
        cert.Subcommands.Add(RenewVerb());
        cert.Subcommands.Add(InspectVerb());
        return cert;
    }

    private static Command InitVerb()
    {
        var domain = new Option<string>("--domain") { Description = "The tunnel's domain, e.g. abcd1234.tunnel.anthropic.com", Required = true, HelpName = "DOMAIN" };
        var output = SetupCommands.OutputOption();
        var serverKey = SetupCommands.ServerKeyOption();
        var duration = SetupCommands.DurationOption("--cert-duration", "Server certificate validity", "2160h");
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

            if (ParseOutput(result.GetValue(output)!, stderr) is not { } path)
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
                var server = factory.CreateServerCertificate(ca, name, validity, SetupCommands.ParseKey(result.GetValue(serverKey)!));
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

    private static Command RenewVerb()
    {
        var output = SetupCommands.OutputOption();
        // Unlike setup renew-cert (0, the setup component's default), renewing by hand in the manual flow skips a
        // certificate that is far from expiry, as certbot renew does; both say so in their help.
        var renewBefore = SetupCommands.DurationOption("--renew-before", "Skip while more validity than this remains; 0 always renews (setup renew-cert defaults to 0, as the setup component does)", "720h");
        var duration = SetupCommands.DurationOption("--cert-duration", "New server certificate validity", "2160h");
        var command = new Command("renew", "Sign a new server certificate with the CA in the directory (the manual flow's renewal)")
        {
            output, renewBefore, duration,
        };
        command.SetAction(result => SetupCommands.RunRenewal(() => OutputSpec.ParseDirectory(result.GetValue(output)!), result.GetValue(duration)!, result.GetValue(renewBefore)!, "cert", result.InvocationConfiguration));
        return command;
    }

    private static Command InspectVerb()
    {
        var output = SetupCommands.OutputOption("Credential directory to check, as dir:PATH or PATH");
        var file = new Argument<string?>("FILE") { Description = "A single certificate file to check instead", Arity = ArgumentArity.ZeroOrOne };
        var domain = new Option<string?>("--domain") { Description = "Tunnel domain the server certificate must cover (default: the tunnel-domain file)", HelpName = "DOMAIN" };
        var command = new Command("inspect", "Check the CA and server certificate against every tunnel requirement; exit 1 if one fails")
        {
            output, file, domain,
        };
        command.SetAction(result => ParseOutput(result.GetValue(output)!, result.InvocationConfiguration.Error) is { } path
            ? Inspect(path, result.GetValue(file), result.GetValue(domain), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error)
            : ExitCodes.Usage);
        return command;
    }

    /// <summary>The directory named by <c>--output</c>, or null after printing why it is not one.</summary>
    internal static string? ParseOutput(string output, TextWriter error)
    {
        try
        {
            return OutputSpec.ParseDirectory(output);
        }
        catch (SetupInputException ex)
        {
            error.WriteLine($"{ex.Message}");
            return null;
        }
    }

    internal static int Inspect(string? outputPath, string? file, string? domain, TextWriter output, TextWriter error)
    {
        var now = DateTimeOffset.UtcNow;
        var checks = new List<RequirementCheck>();
        try
        {
            if (file is not null)
            {
                var pem = File.ReadAllText(file);
                using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(pem);
                var isCa = certificate.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension>().FirstOrDefault()?.CertificateAuthority == true;
                checks.AddRange(isCa ? CertificateInspector.CheckCa(pem, now) : CertificateInspector.CheckServer(pem, null, null, domain, now));
            }
            else
            {
                var directory = new DataDirectory(outputPath ?? DataDirectory.DefaultPath);
                var caPem = directory.Read(DataDirectory.CaCertificate);
                var serverPem = directory.Read(DataDirectory.ServerCertificate);
                if (caPem is null && serverPem is null)
                {
                    error.WriteLine($"cert: no ca.crt or tls.crt in {directory.Path}");
                    return ExitCodes.Failure;
                }

                if (caPem is not null)
                {
                    checks.AddRange(CertificateInspector.CheckCa(caPem, now));
                }

                if (serverPem is not null)
                {
                    domain ??= directory.ReadValue(DataDirectory.TunnelDomain) ?? CertificateRenewal.DomainFrom(serverPem);
                    checks.AddRange(CertificateInspector.CheckServer(serverPem, directory.Read(DataDirectory.ServerKey), caPem, domain, now));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            error.WriteLine($"cert: {ex.Message}");
            return ExitCodes.Failure;
        }

        foreach (var check in checks)
        {
            output.WriteLine($"{(check.Passed ? "pass" : "FAIL")}  {check.Subject,-7} {check.Requirement}: {check.Detail}");
            if (!check.Passed && check.Fix is not null)
            {
                output.WriteLine($"      fix: {check.Fix}");
            }
        }

        var failed = checks.Count(c => !c.Passed);
        output.WriteLine(failed == 0 ? $"all {checks.Count} checks passed" : $"{failed} of {checks.Count} checks failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
