namespace McpTunnel.Hosting;

/// <summary>
/// Where <c>run</c>'s sd_notify states go: <see cref="SystemdNotifier"/> in the service, a recorder in the unit
/// tests of the parts that notify (status, reload, watchdog).
/// </summary>
public interface ISystemdNotifier
{
    /// <summary>Sends one notification (newline-separated <c>KEY=value</c> assignments, as sd_notify(3) takes them).</summary>
    void Notify(string state);
}
