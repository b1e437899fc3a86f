using System.Reflection;

namespace McpTunnel.Tests;

/// <summary>
/// Dependencies point one way (docs/architecture.md). Every pair of our assemblies, the executable included, is
/// either an allowed reference or a forbidden one: a new reference between two modules fails here until the layout
/// (and this table) says it is meant.
/// </summary>
public sealed class ArchitectureTests
{
    private static readonly string[] Modules =
    [
        "McpTunnel.Configuration", "McpTunnel.Credentials", "McpTunnel.Connector", "McpTunnel.Gateway", "McpTunnel.Operations", "mcp-tunnel",
    ];

    /// <summary>The modules each module may reference; everything else of ours is forbidden to it.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new(StringComparer.Ordinal)
    {
        // The configuration model knows nothing of ours.
        ["McpTunnel.Configuration"] = [],
        // Certificates, keys, the Tunnels API and the data directory: independent of the configuration file.
        ["McpTunnel.Credentials"] = [],
        // cloudflared's options are built from appliance.cloudflared, whose defaults live in Configuration.
        ["McpTunnel.Connector"] = ["McpTunnel.Configuration"],
        ["McpTunnel.Gateway"] = ["McpTunnel.Configuration"],
        // Operations checks each hop the way the service takes it, so it sits above the libraries.
        ["McpTunnel.Operations"] = ["McpTunnel.Configuration", "McpTunnel.Credentials", "McpTunnel.Connector", "McpTunnel.Gateway"],
        ["mcp-tunnel"] = ["McpTunnel.Configuration", "McpTunnel.Credentials", "McpTunnel.Connector", "McpTunnel.Gateway", "McpTunnel.Operations"],
    };

    /// <summary>Libraries a module must not use: the concern belongs to another module.</summary>
    private static readonly Dictionary<string, string[]> ForbiddenLibraries = new(StringComparer.Ordinal)
    {
        ["McpTunnel.Configuration"] = ["Microsoft.AspNetCore", "System.Net.Sockets", "Yarp", "CliWrap", "BouncyCastle", "Serilog", "System.CommandLine"],
        ["McpTunnel.Credentials"] = ["Microsoft.AspNetCore", "Yarp", "CliWrap", "Serilog", "System.CommandLine", "YamlDotNet"],
        ["McpTunnel.Connector"] = ["Microsoft.AspNetCore", "Yarp", "BouncyCastle", "Serilog", "System.CommandLine"],
        ["McpTunnel.Gateway"] = ["CliWrap", "BouncyCastle", "Serilog", "System.CommandLine"],
        ["McpTunnel.Operations"] = ["Yarp", "Serilog", "System.CommandLine"],
        ["mcp-tunnel"] = [],
    };

    private static string[] References(string assembly) =>
        [.. Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name!)];

    public static TheoryData<string, string> Pairs()
    {
        var pairs = new TheoryData<string, string>();
        foreach (var from in Modules)
        {
            foreach (var to in Modules.Where(m => m != from))
            {
                pairs.Add(from, to);
            }
        }

        return pairs;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void Each_pair_of_modules_is_either_allowed_or_forbidden_and_the_assembly_agrees(string from, string to)
    {
        var references = References(from);
        if (Allowed[from].Contains(to, StringComparer.Ordinal))
        {
            // An allowed reference that is no longer used is a stale line in the layout: say so.
            Assert.True(references.Contains(to, StringComparer.Ordinal), $"{from} may reference {to} but does not; remove it from the table and docs/architecture.md");
        }
        else
        {
            Assert.False(references.Contains(to, StringComparer.Ordinal), $"{from} must not reference {to} (docs/architecture.md)");
        }
    }

    [Theory]
    [MemberData(nameof(ModuleNames))]
    public void Modules_do_not_use_libraries_whose_concern_is_elsewhere(string module)
    {
        var references = References(module);
        foreach (var prefix in ForbiddenLibraries[module])
        {
            Assert.DoesNotContain(references, r => r.StartsWith(prefix, StringComparison.Ordinal));
        }
    }

    public static TheoryData<string> ModuleNames() => [.. Modules];

    [Fact]
    public void The_table_covers_every_module_the_executable_ships()
    {
        var ours = References("mcp-tunnel").Where(r => r.StartsWith("McpTunnel.", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        Assert.Equal(Modules.Where(m => m != "mcp-tunnel").Order(StringComparer.Ordinal), ours);
    }
}
