using System.Collections.Concurrent;

namespace McpTunnel.Connector;

/// <summary>
/// Starts child processes from one dedicated thread that lives as long as the process.
/// <remarks>
/// The child is started through <c>setpriv --pdeathsig KILL</c>, so the kernel kills it when its parent goes
/// away, even when we are killed with SIGKILL and nothing of ours runs. Linux ties that "parent" to the
/// thread that forked, and .NET forks from whichever thread calls <c>Process.Start</c>; a thread-pool thread
/// may retire while the process lives on, which would kill a healthy child. Forking from this never-ending
/// thread makes the death signal mean exactly "the mcp-tunnel process died".
/// </remarks>
/// </summary>
public static class ChildLauncher
{
    /// <summary>util-linux's setpriv (essential on Debian, present on RPM-based systems).</summary>
    public const string SetPriv = "/usr/bin/setpriv";

    private static readonly BlockingCollection<Action> Work = StartThread();

    /// <summary>
    /// True when children should be tied to our lifetime through setpriv. Not under a systemd service
    /// (<c>INVOCATION_ID</c> is set): there the unit's cgroup already ends every process with the service
    /// (KillMode=mixed), and the hardened unit's empty capability bounding set makes setpriv itself fail
    /// ("activate capabilities: Operation not permitted", seen in the package's system test).
    /// </summary>
    public static bool Available => File.Exists(SetPriv) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"));

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
