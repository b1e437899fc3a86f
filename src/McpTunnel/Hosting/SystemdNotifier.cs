using System.Net.Sockets;
using System.Text;

namespace McpTunnel.Hosting;

/// <summary>
/// sd_notify(3) without libsystemd: READY=1, STATUS=, STOPPING=1, RELOADING=1 and WATCHDOG=1 datagrams to
/// <c>$NOTIFY_SOCKET</c>. It needs nothing from /proc, so it works under <c>ProtectProc=invisible</c>, where the
/// hosting package's systemd detection (which looks at the parent process) does not.
/// </summary>
public sealed class SystemdNotifier : ISystemdNotifier, IDisposable
{
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;

    public SystemdNotifier(string? notifySocket)
    {
        if (string.IsNullOrEmpty(notifySocket))
        {
            return;
        }

        // An abstract socket is written with a leading '@'.
        _endpoint = new UnixDomainSocketEndPoint(notifySocket[0] == '@' ? "\0" + notifySocket[1..] : notifySocket);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    /// <summary>Half of <c>WATCHDOG_USEC</c>, when systemd asks for pings; else null.</summary>
    public static TimeSpan? WatchdogInterval(Func<string, string?> environment)
    {
        if (!long.TryParse(environment("WATCHDOG_USEC"), out var usec) || usec <= 0)
        {
            return null;
        }

        if (long.TryParse(environment("WATCHDOG_PID"), out var pid) && pid != Environment.ProcessId)
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(usec / 2.0);
    }

    public void Notify(string state)
    {
        if (_socket is null)
        {
            return;
        }

        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(state), _endpoint!);
        }
        catch (SocketException)
        {
            // systemd went away (or never listened); nothing to tell.
        }
    }

    public void Dispose() => _socket?.Dispose();
}
