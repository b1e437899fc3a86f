using System.CommandLine;
using McpTunnel.Credentials;

namespace McpTunnel.Commands.Cert;

/// <summary><c>mcp-tunnel cert inspect</c>: the CA and server certificate against every tunnel requirement; exit 1 if one fails.</summary>
internal static class CertInspectCommand
{
    public static Command Build()
    {
        var output = CredentialOptions.OutputOption("Credential directory to check, as dir:PATH or PATH");
        var file = new Argument<string?>("FILE") { Description = "A single certificate file to check instead", Arity = ArgumentArity.ZeroOrOne };
        var domain = new Option<string?>("--domain") { Description = "Tunnel domain the server certificate must cover (default: the tunnel-domain file)", HelpName = "DOMAIN" };
        var command = new Command("inspect", "Check the CA and server certificate against every tunnel requirement; exit 1 if one fails")
        {
            output, file, domain,
        };
        command.SetAction(result => CredentialOptions.ParseOutput(result.GetValue(output)!, result.InvocationConfiguration.Error) is { } path
            ? Inspect(path, result.GetValue(file), result.GetValue(domain), result.InvocationConfiguration.Output, result.InvocationConfiguration.Error)
            : ExitCodes.Usage);
        return command;
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
