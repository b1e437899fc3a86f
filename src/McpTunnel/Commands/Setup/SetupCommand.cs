using System.CommandLine;

namespace McpTunnel.Commands.Setup;

/// <summary><c>mcp-tunnel setup</c>: the setup component's verbs (<see cref="SetupInitCommand"/>, <see cref="SetupRenewCertCommand"/>).</summary>
internal static class SetupCommand
{
    public static Command Build()
    {
        var setup = new Command("setup", "Provision credentials like the setup component: tunnel, CA, server certificate, token");
        setup.Subcommands.Add(SetupInitCommand.Build());
        setup.Subcommands.Add(SetupRenewCertCommand.Build());
        return setup;
    }
}
