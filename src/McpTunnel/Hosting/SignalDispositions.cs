using System.Runtime.InteropServices;

namespace McpTunnel.Hosting;

/// <summary>
/// Ignored signals survive exec: <c>nohup</c> ignores SIGHUP, and a script's background job starts with SIGINT
/// ignored. .NET keeps such signals ignored even when a handler is registered, so under <c>nohup mcp-tunnel run</c>
/// SIGHUP reloaded nothing, and cloudflared (which inherits the dispositions) ignored our graceful SIGINT and was
/// killed after its grace period (found by the soak). The signals <c>run</c> handles itself go back to their
/// defaults first thing, before the runtime sets up signal handling. systemd already starts services this way.
/// </summary>
internal static partial class SignalDispositions
{
    private const int SIGHUP = 1;
    private const int SIGINT = 2;
    private const int SIGTERM = 15;

    public static void RestoreForService()
    {
        foreach (var signal in new[] { SIGHUP, SIGINT, SIGTERM })
        {
            _ = Native.signal(signal, IntPtr.Zero); // SIG_DFL
        }
    }

    private static partial class Native
    {
        [LibraryImport("libc", SetLastError = true)]
        public static partial IntPtr signal(int signum, IntPtr handler);
    }
}
