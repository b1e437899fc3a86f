namespace McpTunnel.SystemTests.Infrastructure;

/// <summary>Where the repository and the artifacts the test command builds are.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Binary => Path.Combine(Root, "artifacts", "bin", "mcp-tunnel");

    public static string StandIn => Path.Combine(Root, "artifacts", "standin", "fake-cloudflared");

    public static string Packaging => Path.Combine(Root, "packaging");

    /// <summary>MCP_TUNNEL_SYSTEM_TESTS=0 turns these tests into skips (for machines without root or Docker).</summary>
    public static bool Disabled => Environment.GetEnvironmentVariable("MCP_TUNNEL_SYSTEM_TESTS") == "0";

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root (Appliance.sln) not found above " + AppContext.BaseDirectory);
    }
}
