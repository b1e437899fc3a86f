using System.Runtime.InteropServices;
using McpTunnel.Configuration;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// The connection limits in force: <c>appliance.max_connections</c> and <c>appliance.max_sessions</c>, or, when
/// they are not set, values derived from the process's descriptor limit (RLIMIT_NOFILE, the unit's
/// <c>LimitNOFILE</c>).
/// </summary>
/// <remarks>
/// Why derive them from descriptors: a connection that is accepted and held costs one descriptor whatever it
/// sends, and once the process runs out, accept fails ("Too many open files"), Kestrel's accept loop retries at
/// once and burns a core, a real client can no longer connect and certificate polling fails. The derivation keeps
/// every limit well below the descriptor limit:
/// 1. <see cref="Reserve"/> descriptors stay for the process itself (runtime, logs, certificate files, the health
///    listener, cloudflared's pipes, pooled upstream connections that outlive their session).
/// 2. Half of the rest is for connections on <c>listen_addr</c> (one descriptor each), a quarter for the sessions
///    among them, and the remaining quarter covers the upstream connections those sessions' requests open.
/// </remarks>
public sealed partial record ConnectionLimits(int MaxConnections, int MaxSessions, long? DescriptorLimit)
{
    /// <summary>Descriptors kept for everything that is not a connection on <c>listen_addr</c>.</summary>
    public const int Reserve = 256;

    /// <summary>The smallest derived connection limit, for tiny descriptor limits.</summary>
    private const int Floor = 16;

    /// <summary>Most connections on the health listener (<c>appliance.health_addr</c>): a scraper or two need a handful.</summary>
    public const int HealthConnections = 64;

    /// <summary>Resolves the limits for <paramref name="settings"/> with the process's descriptor limit.</summary>
    public static ConnectionLimits Resolve(ApplianceConfig settings) => Resolve(settings, CurrentDescriptorLimit());

    /// <summary>Resolves the limits for <paramref name="settings"/> with a given descriptor limit (null: unknown).</summary>
    public static ConnectionLimits Resolve(ApplianceConfig settings, long? descriptorLimit)
    {
        var budget = descriptorLimit is { } limit ? Math.Max(limit - Reserve, 2L * Floor) : 4L * 65536;
        var derivedConnections = (int)Math.Min(budget / 2, int.MaxValue);
        var connections = settings.MaxConnections ?? derivedConnections;
        var sessions = settings.MaxSessions ?? Math.Max(1, Math.Min((int)Math.Min(budget / 4, int.MaxValue), connections / 2));
        if (sessions >= connections)
        {
            // Only possible when max_sessions is set and max_connections is derived (the loader refuses the pair
            // otherwise): keep a quarter of the connections for upgrades in progress.
            sessions = Math.Max(1, connections - Math.Max(1, connections / 4));
        }

        return new ConnectionLimits(connections, sessions, descriptorLimit);
    }

    /// <summary>
    /// True when the limits leave too few descriptors for the rest of the process (a configured value too large
    /// for the descriptor limit): the process would hit "Too many open files" before the limits act.
    /// </summary>
    public bool ExceedsDescriptors => DescriptorLimit is { } limit && (long)MaxConnections + MaxSessions + Reserve > limit;

    /// <summary>The soft RLIMIT_NOFILE of this process, or null when it cannot be read or is unlimited.</summary>
    public static long? CurrentDescriptorLimit()
    {
        try
        {
            if (Native.getrlimit(Native.RLIMIT_NOFILE, out var limit) != 0 || limit.Current == ulong.MaxValue)
            {
                return null;
            }

            return (long)Math.Min(limit.Current, long.MaxValue);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static partial class Native
    {
        public const int RLIMIT_NOFILE = 7;

        [StructLayout(LayoutKind.Sequential)]
        public struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [LibraryImport("libc", SetLastError = true)]
        public static partial int getrlimit(int resource, out RLimit limit);
    }
}
