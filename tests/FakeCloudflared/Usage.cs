using System.Text;

namespace FakeCloudflared;

/// <summary>
/// What cloudflared prints on stdout for a command line urfave/cli rejects: <c>Incorrect Usage. &lt;error&gt;</c>
/// (tunnel level) or <c>Incorrect Usage: &lt;error&gt;</c> (run level), a blank line, then the command's whole
/// help (the real one is 11 to 15 KB). The help shows each flag's environment twin's value as its default, so the
/// run help contains <c>TUNNEL_TOKEN</c>'s value when that variable is set. cloudflared exits 0 afterwards
/// (runApp in linux_service.go discards the error).
/// </summary>
internal static class Usage
{
    public static string TunnelHelp(Release release, Func<string, string?> environment)
    {
        var text = new StringBuilder();
        text.Append("NAME:\n   cloudflared tunnel - Expose private services to the Internet or to private users through Cloudflare.\n\n");
        text.Append("USAGE:\n   cloudflared tunnel command [command options]  \n\n");
        text.Append("DESCRIPTION:\n   ").Append(Description).Append("\n\n");
        text.Append("COMMANDS:\n");
        foreach (var (name, usage) in Commands)
        {
            text.Append("   ").Append(name).Append('\t').Append(usage).Append('\n');
        }

        text.Append("\nOPTIONS:\n");
        foreach (var flag in FlagTable.For(FlagTable.Tunnel, release).Where(f => !f.Hidden))
        {
            text.Append("   ").Append(flag.HelpLine(environment)).Append('\n');
        }

        return text.ToString();
    }

    public static string RunHelp(Release release, Func<string, string?> environment)
    {
        var text = new StringBuilder();
        text.Append("NAME:\n\tcloudflared tunnel run - Proxy a local web server by running the given tunnel\n\n");
        text.Append("USAGE:\n\tcloudflared tunnel [tunnel command options] run [subcommand options] [TUNNEL]\n\n");
        text.Append("DESCRIPTION:\n\tRuns the tunnel given by name or UUID, or the one its token names, keeping several connections to the\n")
            .Append("  Cloudflare edge open so that it stays reachable when one of them drops. The tunnel is named as the last argument,\n")
            .Append("  in the configuration file (tunnel: NAME) or by the token. Running by name or UUID needs the credentials file that\n")
            .Append("  `cloudflared tunnel create` wrote, but not the certificate from `cloudflared tunnel login` when a UUID is given.\n")
            .Append("  When something goes wrong with old connections, `cloudflared tunnel cleanup` may help.\n\n");
        text.Append("TUNNEL COMMAND OPTIONS:\n\t");
        foreach (var flag in FlagTable.For(FlagTable.Tunnel, release).Where(f => f.Name is "config" or "origincert" or "autoupdate-freq" or "no-autoupdate" or "no-prechecks" or "metrics" or "pidfile" or "loglevel" or "transport-loglevel" or "logfile" or "log-directory" or "trace-output" or "output"))
        {
            text.Append(' ').Append(flag.HelpLine(environment)).Append("\n\t");
        }

        text.Append("\nSUBCOMMAND OPTIONS:\n\t");
        foreach (var flag in FlagTable.For(FlagTable.Run, release).Where(f => !f.Hidden))
        {
            text.Append(flag.HelpLine(environment)).Append("\n\t");
        }

        return text.Append('\n').ToString();
    }

    private const string Description =
        "A tunnel connects this machine to Cloudflare's network without opening an inbound port. It can publish\n" +
        "   local HTTP services under a hostname on Cloudflare, or make TCP and UDP services reachable by IP for the\n" +
        "   private users of the same account. Tunnels are managed in the dashboard (then each machine only needs\n" +
        "   `cloudflared tunnel run --token ...`) or from this command line after `cloudflared tunnel login`.\n\n" +
        "   Create, route and run a tunnel from the command line:\n\n" +
        "     $ cloudflared tunnel create my-tunnel\n" +
        "     $ cloudflared tunnel route dns my-tunnel app.example.com\n" +
        "     $ cloudflared tunnel run --url http://localhost:8080 my-tunnel\n\n" +
        "   Routes for private networks: cloudflared tunnel route ip --help";

    private static readonly (string Name, string Usage)[] Commands =
    [
        ("login", "Authorize this machine for an account"),
        ("create", "Create a new tunnel"),
        ("route", "Route traffic to a tunnel"),
        ("vnet", "Manage virtual networks"),
        ("run", "Proxy a local web server by running the given tunnel"),
        ("list", "List tunnels"),
        ("ready", "Ask a running tunnel whether it is connected"),
        ("info", "List the connectors of a tunnel"),
        ("ingress", "Check ingress rules"),
        ("delete", "Delete tunnels"),
        ("cleanup", "Remove stale connections"),
        ("token", "Print a tunnel's token"),
        ("diag", "Collect diagnostics from a running tunnel"),
        ("help, h", "Show commands or one command's help"),
    ];
}
