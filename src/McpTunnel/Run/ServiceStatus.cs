using McpTunnel.Hosting;

namespace McpTunnel.Run;

/// <summary>
/// The one-line systemd <c>STATUS=</c> of <c>mcp-tunnel run</c> (what <c>systemctl status</c> shows): the tunnel's
/// state first, then what the operator must still act on: no routes, or a rejected reload. A successful reload
/// clears the latter, so the line returns to the tunnel's state instead of saying "reloaded" for ever. The words
/// are the ones docs/operations.md quotes.
/// </summary>
internal sealed class ServiceStatus(ISystemdNotifier notifier, string initial, Func<bool> hasRoutes)
{
    public const string NoRoutes = "no routes configured: every request gets 502 No route configured for host; add routes to the config and reload";

    public const string ReloadRejected = "the last reload was rejected (see the journal); the previous configuration stays in force";

    private readonly Lock _sync = new();
    private string _tunnel = initial;
    private bool _reloadRejected;

    public string Text
    {
        get
        {
            lock (_sync)
            {
                var text = _tunnel;
                if (!hasRoutes())
                {
                    text += "; " + NoRoutes;
                }

                return _reloadRejected ? $"{text}; {ReloadRejected}" : text;
            }
        }
    }

    public void Ready() => notifier.Notify($"READY=1\nSTATUS={Text}");

    /// <summary>The tunnel's state changed (cloudflared connected, lost its connections, restarts...).</summary>
    public void TunnelChanged(string tunnel)
    {
        lock (_sync)
        {
            _tunnel = tunnel;
        }

        notifier.Notify($"STATUS={Text}");
    }

    /// <summary>A reload finished: READY=1 (after RELOADING=1) and the status it leaves behind.</summary>
    public void Reloaded(bool accepted)
    {
        lock (_sync)
        {
            _reloadRejected = !accepted;
        }

        notifier.Notify($"READY=1\nSTATUS={Text}");
    }
}
