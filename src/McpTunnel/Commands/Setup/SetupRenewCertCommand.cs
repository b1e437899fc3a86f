using System.CommandLine;
using McpTunnel.Configuration;
using McpTunnel.Credentials;

namespace McpTunnel.Commands.Setup;

/// <summary><c>mcp-tunnel setup renew-cert</c>: a new server certificate from the stored CA, offline; <c>cert renew</c> runs the same with its own default.</summary>
internal static class SetupRenewCertCommand
{
    public static Command Build()
    {
        var output = CredentialOptions.OutputOption();
        var duration = CredentialOptions.DurationOption("--cert-duration", "New server certificate validity", "2160h");
        var renewBefore = CredentialOptions.DurationOption("--renew-before", "Skip while more validity than this remains; 0, the setup component's default, always renews (the renewal timer passes 720h)", "0");
        var command = new Command("renew-cert", "Sign a new server certificate with the stored CA; no API call, no credentials")
        {
            output, duration, renewBefore,
        };
        command.SetAction(result => RunRenewal(() => OutputSpec.ParseDirectory(result.GetValue(output)!), result.GetValue(duration)!, result.GetValue(renewBefore)!, "setup", result.InvocationConfiguration));
        return command;
    }

    internal static int RunRenewal(Func<string> directory, string durationText, string renewBeforeText, string prefix, InvocationConfiguration console)
    {
        try
        {
            var problems = new List<string>();
            if (!GoDuration.TryParse(durationText, out var duration) || duration <= TimeSpan.Zero)
            {
                problems.Add($"--cert-duration \"{durationText}\" is not a positive duration such as 2160h");
            }

            if (!GoDuration.TryParse(renewBeforeText, out var renewBefore) || renewBefore < TimeSpan.Zero)
            {
                problems.Add($"--renew-before \"{renewBeforeText}\" is not a duration such as 720h (0 always renews)");
            }

            var path = directory();
            if (problems.Count > 0)
            {
                throw new SetupInputException(problems);
            }

            var outcome = new CertificateRenewal().Renew(new DataDirectory(path), duration, renewBefore);
            console.Output.WriteLine($"{prefix}: {outcome.Reason}");
            return ExitCodes.Ok;
        }
        catch (SetupInputException ex)
        {
            foreach (var problem in ex.Problems)
            {
                console.Error.WriteLine($"{prefix}: {problem}");
            }

            return ExitCodes.Usage;
        }
        catch (CredentialsException ex)
        {
            console.Error.WriteLine($"{prefix}: {ex.Message}");
            return ExitCodes.Failure;
        }
    }
}
