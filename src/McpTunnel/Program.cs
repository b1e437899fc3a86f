using McpTunnel.Commands;

namespace McpTunnel;

internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        // The name it was started as can stand for a command (a copy named setup, mcp-proxy, ...).
        args = Invocation.Normalize(args, Environment.GetCommandLineArgs().FirstOrDefault(), Cli.Build());
        if (args.Length > 0 && args[0] == "run")
        {
            Hosting.SignalDispositions.RestoreForService();
        }

        return Cli.RunAsync(args);
    }
}
