using McpTunnel.Commands;

namespace McpTunnel;

internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "run")
        {
            Run.SignalDispositions.RestoreForService();
        }

        return Cli.RunAsync(args);
    }
}
