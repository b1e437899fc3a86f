using System.Collections.Concurrent;
using CliWrap;

namespace McpTunnel.Connector;

/// <summary>
/// Starts child processes from one dedicated thread that lives as long as the process.
/// </summary>
/// <remarks>
/// The child is started through <c>setpriv --pdeathsig KILL</c>, so the kernel kills it when its parent goes
/// away, even when we are killed with SIGKILL and nothing of ours runs. Linux ties that "parent" to the
/// thread that forked, and .NET forks from whichever thread calls <c>Process.Start</c>; a thread-pool thread
/// may retire while the process lives on, which would kill a healthy child. Forking from this never-ending
/// thread makes the death signal mean exactly "the mcp-tunnel process died".
/// </remarks>
public static class ChildLauncher
{
    /// <summary>util-linux's setpriv (essential on Debian, present on RPM-based systems).</summary>
    public const string SetPriv = "/usr/bin/setpriv";

    /// <summary>util-linux's setsid: the child leads its own session and process group.</summary>
    public const string SetSid = "/usr/bin/setsid";

    private static readonly BlockingCollection<Action> Work = StartThread();

    /// <summary>
    /// True when children should be tied to our lifetime through setpriv. Not under a systemd service
    /// (<c>INVOCATION_ID</c> is set): there the unit's cgroup already ends every process with the service
    /// (KillMode=mixed), and the hardened unit's empty capability bounding set makes setpriv itself fail
    /// ("activate capabilities: Operation not permitted", seen in the package's system test).
    /// </summary>
    public static bool Available => File.Exists(SetPriv) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"));

    /// <summary>
    /// What runs before cloudflared itself: <c>setpriv --pdeathsig KILL --</c> (see above), then <c>setsid</c>, so the
    /// child is in a process group of its own. A terminal's Ctrl-C goes to the whole foreground process group; in
    /// ours cloudflared would get that SIGINT and then ours, and a second SIGINT makes it die at once (status 130)
    /// without unregistering. setsid does not fork here (the exec'd process is not a group leader), so the PID
    /// CliWrap watches stays cloudflared's. Under systemd neither is used: there is no terminal, and the unit's
    /// control group ends the child (see <see cref="Available"/>).
    /// </summary>
    public static IReadOnlyList<string> Chain(bool tie) =>
        !tie ? [] : File.Exists(SetSid) ? [SetPriv, "--pdeathsig", "KILL", "--", SetSid] : [SetPriv, "--pdeathsig", "KILL", "--"];

    /// <summary>
    /// A CliWrap command for <paramref name="target"/> that runs in <c>/</c>. Cli.Wrap() would take the caller's
    /// working directory, which the service user may not be allowed to enter (<c>sudo -u mcp-tunnel</c> from
    /// <c>/root</c>: "Target file or working directory doesn't exist") or which may be gone; cloudflared needs none.
    /// </summary>
    public static Command Command(string target) => new(
        target, string.Empty, "/", ResourcePolicy.Default, Credentials.Default, new Dictionary<string, string?>(),
        CommandResultValidation.None, PipeSource.Null, PipeTarget.Null, PipeTarget.Null);

    /// <summary>Runs <paramref name="start"/> (which must start the process synchronously) on the launcher thread.</summary>
    public static Task<T> Run<T>(Func<T> start)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            try
            {
                result.SetResult(start());
            }
            catch (Exception ex)
            {
                result.SetException(ex);
            }
        });
        return result.Task;
    }

    private static BlockingCollection<Action> StartThread()
    {
        var work = new BlockingCollection<Action>();
        var thread = new Thread(() =>
        {
            foreach (var action in work.GetConsumingEnumerable())
            {
                action();
            }
        })
        {
            IsBackground = true,
            Name = "mcp-tunnel child launcher",
        };
        thread.Start();
        return work;
    }
}
