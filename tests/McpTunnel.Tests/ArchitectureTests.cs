using System.Reflection;

namespace McpTunnel.Tests;

/// <summary>Dependencies point one way (docs/architecture.md); this fails when a module reaches across.</summary>
public sealed class ArchitectureTests
{
    private static string[] References(string assembly) =>
        [.. Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!)];

    [Theory]
    [InlineData("McpTunnel.Configuration", new[] { "Microsoft.AspNetCore", "McpTunnel.Gateway", "McpTunnel.Credentials", "McpTunnel.Operations", "System.Net.Sockets" })]
    [InlineData("McpTunnel.Credentials", new[] { "Microsoft.AspNetCore", "McpTunnel.Gateway", "McpTunnel.Operations", "Yarp" })]
    // Operations sits above the libraries (it checks each hop the way the service takes it) and below the executable:
    // no forwarding of its own, no command line, no log setup.
    [InlineData("McpTunnel.Operations", new[] { "mcp-tunnel", "Yarp", "System.CommandLine", "Serilog" })]
    [InlineData("McpTunnel.Gateway", new[] { "McpTunnel.Credentials", "McpTunnel.Operations", "McpTunnel.Connector", "Serilog", "System.CommandLine", "CliWrap" })]
    [InlineData("McpTunnel.Connector", new[] { "Microsoft.AspNetCore", "McpTunnel.Gateway", "McpTunnel.Credentials", "McpTunnel.Operations", "Yarp" })]
    public void Modules_do_not_depend_on_what_they_must_not_know(string assembly, string[] forbidden)
    {
        var references = References(assembly);
        foreach (var prefix in forbidden)
        {
            Assert.DoesNotContain(references, r => r.StartsWith(prefix, StringComparison.Ordinal));
        }
    }
}
