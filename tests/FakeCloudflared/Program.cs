using System.Runtime.InteropServices;
using FakeCloudflared;

// A model of cloudflared for the tests: never a spec of its own. Every behaviour mcp-tunnel relies on follows
// cloudflared's source (tag 2026.8.2, the newest source available; packaging pins 2026.11.2) and the experiments
// with the real binary in shared/spec/cloudflared.md. Knobs (environment, test-only):
//   FAKE_CLOUDFLARED_VERSION   what --version prints (default the pinned release; DEV like an unreleased build)
//   FAKE_CLOUDFLARED_SOURCE    the release whose command line it accepts, when it differs from VERSION
//   FAKE_CLOUDFLARED_MODE      normal | exit1 (no DNS: exits 1) | crash (permanent registration error: exits 1) |
//                              unauthorized (edge refuses the token, retried for ever) | edge-unreachable |
//                              never-ready | ignore-first-sigterm | print-token | one-connection
//   FAKE_CLOUDFLARED_RECORD    file to write argv, environment names, token, pid, pgid and cwd to
//   FAKE_CLOUDFLARED_EDGE      host:port of a test's fake edge (see EdgeLink)
//   FAKE_CLOUDFLARED_METRICS_MS (200; the real one 200-500, about 30000 with a silent resolver),
//   FAKE_CLOUDFLARED_CONNECT_MS (100), FAKE_CLOUDFLARED_READY_LAG_MS (400), FAKE_CLOUDFLARED_EDGE_CLOSE_MS (100),
//   FAKE_CLOUDFLARED_CONNECTION_SPACING_MS (50), FAKE_CLOUDFLARED_PING_GROUP_RANGE (path)

// Go's runtime installs its own handler for every signal, whatever the disposition inherited at exec, except that
// an ignored SIGHUP or SIGINT stays ignored until signal.Notify asks for it (runtime/signal_unix.go
// sigInstallGoHandler); cloudflared asks for SIGINT and SIGTERM, not SIGHUP. So a script's background job (SIGINT and
// SIGQUIT ignored) still stops on SIGINT and dumps on SIGQUIT, and nohup's ignored SIGHUP stays ignored. .NET would
// keep inherited ignores, so the dispositions go back to the default before the runtime sets up signal handling.
var hangupIgnored = Native.IsIgnored(Native.SIGHUP);
Native.Default(Native.SIGINT);
Native.Default(Native.SIGQUIT);
Native.Default(Native.SIGTERM);

var release = Release.Current();
var versionText = $"cloudflared version {release.Printed} (built STAND-IN, NOT cloudflared: the mcp-tunnel test stand-in from tests/FakeCloudflared; never ship it)";
switch (args)
{
    case ["--version"] or ["-v"] or ["-V"] or ["version"]:
        Console.Out.WriteLine(versionText);
        return 0;
    case ["version", "--short" or "-s"]:
        Console.Out.WriteLine(release.Printed);
        return 0;
    case []:
    case [not "tunnel", ..]:
        Console.Out.WriteLine("the stand-in models `cloudflared tunnel … run` and `cloudflared --version` only");
        return 0;
}

string? Env(string name) => Environment.GetEnvironmentVariable(name);

// urfave/cli: flags of the tunnel command, then its subcommand. Every rejection prints usage on stdout and exits 0.
var tunnel = CommandLine.Parse(FlagTable.For(FlagTable.Tunnel, release), args[1..], Env);
if (tunnel.EnvironmentError is not null)
{
    // RunAsSubcommand returns the flag set's error before printing anything; runApp drops it: silent exit 0.
    return 0;
}

if (tunnel.Error is not null)
{
    Console.Out.Write($"Incorrect Usage. {tunnel.Error}\n\n{Usage.TunnelHelp(release, Env)}");
    return 0;
}

if (tunnel.HelpRequested)
{
    Console.Out.Write(Usage.TunnelHelp(release, Env));
    return 0;
}

if (tunnel.Rest is not ["run", ..])
{
    Console.Error.WriteLine(tunnel.Rest.Count == 0
        ? "You did not specify any valid additional argument to the cloudflared tunnel command. Use `cloudflared tunnel run`."
        : $"the stand-in does not model `cloudflared tunnel {tunnel.Rest[0]}`");
    return 1;
}

var run = CommandLine.Parse(FlagTable.For(FlagTable.Run, release), [.. tunnel.Rest.Skip(1)], Env);
if (run.EnvironmentError is not null || run.Error is not null)
{
    Console.Out.Write($"Incorrect Usage: {run.EnvironmentError ?? run.Error}\n\n{Usage.RunHelp(release, Env)}");
    return 0;
}

if (run.HelpRequested)
{
    Console.Out.Write(Usage.RunHelp(release, Env));
    return 0;
}

var log = new ZeroLog(json: tunnel["output"] == "json");
using var hangup = hangupIgnored ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => Native.DieOf(Native.SIGHUP));
using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, _ =>
{
    // Go's default for SIGQUIT: a goroutine dump on stderr, then exit status 2.
    log.Plain("SIGQUIT: quit\nPC=0x47d1e1 m=0 sigcode=0\n\ngoroutine 1 gp=0xc000002380 m=nil [semacquire]:\nsync.runtime_Semacquire(0xc0004a2f18?)");
    Environment.Exit(2);
});
return await new Tunnel(release, tunnel, run, log, Env("FAKE_CLOUDFLARED_MODE") ?? "normal").RunAsync();
