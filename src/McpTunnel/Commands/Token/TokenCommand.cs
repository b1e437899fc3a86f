using System.CommandLine;

namespace McpTunnel.Commands.Token;

/// <summary><c>mcp-tunnel token</c>: the tunnel token in the manual flow (<see cref="TokenSetCommand"/>).</summary>
internal static class TokenCommand
{
    public static Command Build()
    {
        var token = new Command("token", "The tunnel token (manual flow): store the connector token from the Console");
        token.Subcommands.Add(TokenSetCommand.Build());
        return token;
    }
}
