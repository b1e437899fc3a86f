namespace McpTunnel.Credentials;

/// <summary>
/// <c>--output</c>, the credential directory of every command that reads or writes one: the setup component's
/// <c>dir:PATH</c>, or a plain path (one spelling for <c>setup</c>, <c>cert</c> and <c>token</c>).
/// </summary>
public static class OutputSpec
{
    public static string ParseDirectory(string output)
    {
        if (output.StartsWith("dir:", StringComparison.Ordinal) && output.Length > 4)
        {
            return output[4..];
        }

        if (output.StartsWith("k8s-secret:", StringComparison.Ordinal))
        {
            throw new SetupInputException([$"--output={output}: Kubernetes Secrets are the Helm chart's output; the appliance writes a directory: use --output=dir:/var/lib/mcp-tunnel"]);
        }

        // Any other "scheme:" is an output kind we do not know; a path with a colon can still be given as dir:PATH.
        var colon = output.IndexOf(':', StringComparison.Ordinal);
        if (output.Length == 0 || output == "dir:" || (colon > 0 && !output[..colon].Contains('/', StringComparison.Ordinal)))
        {
            throw new SetupInputException([$"--output=\"{output}\" is not a directory: write dir:PATH or PATH (for example --output=dir:/var/lib/mcp-tunnel)"]);
        }

        return output;
    }
}
