using System.Runtime.InteropServices;

namespace FakeCloudflared;

/// <summary>libc calls the stand-in needs to behave like a Go program with respect to signals.</summary>
internal static partial class Native
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGTERM = 15;

    private static readonly IntPtr SigDfl = IntPtr.Zero;
    private static readonly IntPtr SigIgn = new(1);

    /// <summary>True when <paramref name="signal"/> was ignored when the process started (nohup, a script's background job).</summary>
    public static bool IsIgnored(int signal)
    {
        // signal() returns the previous disposition; put it back at once.
        var previous = Signal(signal, SigIgn);
        _ = Signal(signal, previous);
        return previous == SigIgn;
    }

    public static void Default(int signal) => _ = Signal(signal, SigDfl);

    /// <summary>Dies of <paramref name="signal"/> the way an unhandled signal kills a Go program (status 128+n).</summary>
    public static void DieOf(int signal)
    {
        Default(signal);
        _ = Kill(GetPid(), signal);
        Thread.Sleep(Timeout.Infinite);
    }

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial IntPtr Signal(int signum, IntPtr handler);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "getpid")]
    private static partial int GetPid();

    [LibraryImport("libc", EntryPoint = "getpgid")]
    private static partial int GetPgidOf(int pid);

    public static int GetPgid() => GetPgidOf(0);

    [LibraryImport("libc", EntryPoint = "getegid")]
    public static partial uint GetEgid();
}
