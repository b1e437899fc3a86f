using McpTunnel.Commands;

namespace McpTunnel;

internal static class Program
{
    private static Task<int> Main(string[] args) => Cli.RunAsync(args);
}
