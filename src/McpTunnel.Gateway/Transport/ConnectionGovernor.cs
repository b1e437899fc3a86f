using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// Keeps one listener within its limits without falling over: a connection middleware on <c>listen_addr</c> (and,
/// with sessions off, on the health listener) plus the admission of tunnel sessions.
/// </summary>
/// <remarks>
/// Kestrel's own limits cannot express this. <c>MaxConcurrentConnections</c> refuses the newest connection, so a
/// flood of idle connections keeps every slot and a real client never gets one; its keep-alive timeout (5 minutes)
/// also applies before the first request, and lowering it would close idle inner sessions between requests;
/// <c>MaxConcurrentUpgradedConnections</c> makes the upgrade throw. So:
/// 1. At <c>max_connections</c> a new connection is admitted by closing the oldest one that has not become a tunnel
///    session. Under a flood every connection lives for as long as the next <c>max_connections</c> arrivals take,
///    which is far longer than cloudflared's upgrade needs.
/// 2. A connection that has not completed its upgrade within <c>upgrade_timeout</c> is closed; a session that has
///    not completed inner TLS and a first request within <c>first_request_timeout</c> is closed.
/// 3. At <c>max_sessions</c> a new session is admitted by closing an idle one (no request in flight): first the
///    oldest that never completed its start, then the oldest established one. When every session is busy the new
///    WebSocket gets 503.
/// 4. Every such event is counted in metrics and logged at most once per <see cref="LogThrottle.Interval"/>, with
///    the number of events since the previous line.
/// 5. When a flood is over (connections were shed or timed out, and the open ones are back under an eighth of the
///    limit), the GC is asked once to give back the memory the flood's connections used: the process is idle by
///    then, so without it no collection would run and the high-water mark would stay committed. At most once per
///    <see cref="ReclaimInterval"/>.
/// Lists are kept oldest first under one lock taken per connection and per session start, never per request.
/// </remarks>
internal sealed class ConnectionGovernor
{
    private readonly Lock _lock = new();
    private readonly LinkedList<OuterConnection> _waiting = new();
    private readonly LinkedList<OuterConnection> _sessions = new();
    private readonly string _listener;
    private readonly int _maxConnections;
    private readonly int _maxSessions;
    private readonly TimeSpan? _upgradeTimeout;
    private readonly TimeSpan _firstRequestTimeout;
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly LogThrottle _connectionShedLog;
    private readonly LogThrottle _connectionRefusedLog;
    private readonly LogThrottle _sessionShedLog;
    private readonly LogThrottle _sessionRefusedLog;
    private readonly LogThrottle _upgradeTimeoutLog;
    private readonly LogThrottle _firstRequestTimeoutLog;
    private int _open;
    private readonly Lock _reclaimLock = new();
    private int _shedSinceReclaim;
    private long _lastReclaim = long.MinValue;
    private ITimer? _reclaimTimer;

    /// <summary>The least time between two collections asked for after a flood.</summary>
    public static readonly TimeSpan ReclaimInterval = TimeSpan.FromMinutes(1);


    private ConnectionGovernor(string listener, int maxConnections, int maxSessions, TimeSpan? upgradeTimeout, TimeSpan firstRequestTimeout, TimeProvider time, GatewayMetrics metrics, ILogger logger)
    {
        _listener = listener;
        _maxConnections = maxConnections;
        _maxSessions = maxSessions;
        _upgradeTimeout = upgradeTimeout;
        _firstRequestTimeout = firstRequestTimeout;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _connectionShedLog = new LogThrottle(time);
        _connectionRefusedLog = new LogThrottle(time);
        _sessionShedLog = new LogThrottle(time);
        _sessionRefusedLog = new LogThrottle(time);
        _upgradeTimeoutLog = new LogThrottle(time);
        _firstRequestTimeoutLog = new LogThrottle(time);
    }

    /// <summary>The governor of <c>listen_addr</c>: connections, upgrades and tunnel sessions.</summary>
    public static ConnectionGovernor ForTunnel(ConnectionLimits limits, ApplianceConfig settings, TimeProvider time, GatewayMetrics metrics, ILogger logger) =>
        new("listen_addr", limits.MaxConnections, limits.MaxSessions, settings.UpgradeTimeout, settings.FirstRequestTimeout, time, metrics, logger);

    /// <summary>The governor of the health listener: a few connections, the oldest closed first, no sessions.</summary>
    public static ConnectionGovernor ForHealth(TimeProvider time, GatewayMetrics metrics, ILogger logger) =>
        new("health_addr", ConnectionLimits.HealthConnections, 0, null, TimeSpan.Zero, time, metrics, logger);

    public int MaxConnections => _maxConnections;

    public int MaxSessions => _maxSessions;

    /// <summary>Connections open on the listener, sessions included.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>The connection middleware for the listener's endpoint.</summary>
    public Func<ConnectionDelegate, ConnectionDelegate> Middleware => next => context => OnConnectionAsync(context, next);

    private async Task OnConnectionAsync(ConnectionContext context, ConnectionDelegate next)
    {
        var connection = new OuterConnection(this, context);
        OuterConnection? shed = null;
        var admitted = false;
        lock (_lock)
        {
            if (_open >= _maxConnections)
            {
                shed = _waiting.First?.Value;
                if (shed is not null)
                {
                    Detach(shed);
                }
            }

            if (_open < _maxConnections)
            {
                connection.Node = _waiting.AddLast(connection);
                Attached();
                admitted = true;
            }
        }

        if (shed is not null)
        {
            shed.Abort("closed to admit a newer connection: the connection limit was reached");
            var health = _maxSessions == 0;
            Shed(health ? ShedReason.HealthLimit : ShedReason.ConnectionLimit);
            if (_connectionShedLog.Hit() is var closed and > 0)
            {
                GatewayLog.ConnectionLimitShed(_logger, _listener, _maxConnections, closed);
            }
        }

        if (!admitted)
        {
            // Only when every connection is a session, which max_sessions < max_connections rules out; returning
            // makes Kestrel close the connection.
            _metrics.ConnectionRefused(RefusalReason.ConnectionLimit);
            if (_connectionRefusedLog.Hit() is var refused and > 0)
            {
                GatewayLog.ConnectionLimitRefused(_logger, _listener, _maxConnections, refused);
            }

            return;
        }

        if (_upgradeTimeout is { } timeout)
        {
            connection.Arm(_time, timeout, OuterConnection.Waiting);
        }

        context.Features.Set(connection);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                if (connection.Node is not null)
                {
                    Detach(connection);
                }
            }

            connection.Dispose();
            ReclaimAfterFlood();
        }
    }

    /// <summary>
    /// Asks the GC once to return a finished flood's memory (remark 5). Within <see cref="ReclaimInterval"/> of the
    /// last time it waits for the rest of the interval (a flood that ends just after another must not keep its memory
    /// because no connection closes afterwards).
    /// </summary>
    private void ReclaimAfterFlood()
    {
        if (Volatile.Read(ref _shedSinceReclaim) == 0 || OpenConnections > _maxConnections / 8)
        {
            return;
        }

        lock (_reclaimLock)
        {
            if (_reclaimTimer is not null)
            {
                return;
            }

            var now = _time.GetTimestamp();
            var wait = _lastReclaim == long.MinValue ? TimeSpan.Zero : ReclaimInterval - _time.GetElapsedTime(_lastReclaim, now);
            if (wait > TimeSpan.Zero)
            {
                _reclaimTimer = _time.CreateTimer(static state =>
                {
                    var governor = (ConnectionGovernor)state!;
                    lock (governor._reclaimLock)
                    {
                        governor._reclaimTimer?.Dispose();
                        governor._reclaimTimer = null;
                        governor._metrics.MemoryReclaimScheduled(false);
                    }

                    governor.ReclaimAfterFlood();
                }, this, wait, Timeout.InfiniteTimeSpan);
                _metrics.MemoryReclaimScheduled(true);
                return;
            }

            _lastReclaim = now;
            Interlocked.Exchange(ref _shedSinceReclaim, 0);
        }

        _metrics.MemoryReclaimed();
        ThreadPool.UnsafeQueueUserWorkItem(static _ => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true), null);
    }

    private void Shed(ShedReason reason)
    {
        Interlocked.Exchange(ref _shedSinceReclaim, 1);
        _metrics.ConnectionShed(reason);
    }

    /// <summary>
    /// Admits <paramref name="connection"/> as a tunnel session before its WebSocket is accepted, closing an idle
    /// session when <c>max_sessions</c> is reached. False when every session is busy (answer 503) or the
    /// connection has been closed meanwhile.
    /// </summary>
    public bool TryStartSession(OuterConnection connection)
    {
        OuterConnection? shed = null;
        lock (_lock)
        {
            if (connection.Node?.List != _waiting || connection.Phase != OuterConnection.Waiting)
            {
                return false;
            }

            if (_sessions.Count >= _maxSessions)
            {
                shed = FindIdleSession(OuterConnection.Starting) ?? FindIdleSession(OuterConnection.Established);
                if (shed is null)
                {
                    return Refuse();
                }

                Detach(shed);
            }

            connection.TryMove(OuterConnection.Waiting, OuterConnection.Starting);
            _waiting.Remove(connection.Node);
            connection.Node = _sessions.AddLast(connection);
        }

        connection.Arm(_time, _firstRequestTimeout, OuterConnection.Starting);
        if (shed is not null)
        {
            shed.Abort("closed to admit a newer tunnel session: the session limit was reached");
            Shed(ShedReason.SessionLimit);
            if (_sessionShedLog.Hit() is var closed and > 0)
            {
                GatewayLog.SessionLimitShed(_logger, _maxSessions, closed);
            }
        }

        return true;
    }

    private bool Refuse()
    {
        _metrics.ConnectionRefused(RefusalReason.SessionLimit);
        if (_sessionRefusedLog.Hit() is var refused and > 0)
        {
            GatewayLog.SessionLimitRefused(_logger, _maxSessions, refused);
        }

        return false;
    }

    /// <summary>The oldest session in <paramref name="phase"/> with no request in flight, claimed; under the lock.</summary>
    private OuterConnection? FindIdleSession(int phase)
    {
        for (var node = _sessions.First; node is not null; node = node.Next)
        {
            if (node.Value.Phase == phase && node.Value.TryClaimIdle())
            {
                return node.Value;
            }
        }

        return null;
    }

    /// <summary>A deadline armed by <see cref="OuterConnection.Arm"/> has passed.</summary>
    internal void Expire(OuterConnection connection, int phase)
    {
        lock (_lock)
        {
            if (connection.Node is null || !connection.TryMove(phase, OuterConnection.Closed))
            {
                return;
            }

            Detach(connection);
        }

        if (phase == OuterConnection.Waiting)
        {
            connection.Abort("the WebSocket upgrade did not complete within appliance.upgrade_timeout");
            Shed(ShedReason.UpgradeTimeout);
            if (_upgradeTimeoutLog.Hit() is var closed and > 0)
            {
                GatewayLog.UpgradeTimedOut(_logger, GoDuration.Format(_upgradeTimeout ?? TimeSpan.Zero), closed);
            }
        }
        else
        {
            connection.Abort("inner TLS and a first request did not complete within appliance.first_request_timeout");
            Shed(ShedReason.FirstRequestTimeout);
            if (_firstRequestTimeoutLog.Hit() is var closed and > 0)
            {
                GatewayLog.FirstRequestTimedOut(_logger, GoDuration.Format(_firstRequestTimeout), closed);
            }
        }
    }

    private void Attached()
    {
        _open++;
        if (_maxSessions > 0)
        {
            _metrics.ConnectionOpened();
        }
    }

    /// <summary>Removes a connection from the lists and the count; under the lock.</summary>
    private void Detach(OuterConnection connection)
    {
        connection.Node!.List!.Remove(connection.Node);
        connection.Node = null;
        _open--;
        if (_maxSessions > 0)
        {
            _metrics.ConnectionClosed();
        }
    }
}
