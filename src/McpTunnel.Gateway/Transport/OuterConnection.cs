using Microsoft.AspNetCore.Connections;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// One connection on <c>listen_addr</c> (or the health listener) as <see cref="ConnectionGovernor"/> sees it: first
/// waiting for its WebSocket upgrade, then a tunnel session that is starting (inner TLS and the first request not
/// complete yet), then an established session whose requests are counted so an idle one can be told from a busy one.
/// It is a connection feature, so the outer and the inner request handlers can find it.
/// </summary>
internal sealed class OuterConnection : IDisposable
{
    public const int Waiting = 0;
    public const int Starting = 1;
    public const int Established = 2;
    public const int Closed = 3;

    /// <summary>What <see cref="_inFlight"/> becomes when an idle session is claimed for shedding.</summary>
    private const int Claimed = int.MinValue / 2;

    private readonly ConnectionContext _context;
    private int _phase = Waiting;
    private int _inFlight;
    private ITimer? _deadline;

    public OuterConnection(ConnectionGovernor governor, ConnectionContext context)
    {
        Governor = governor;
        _context = context;
    }

    public ConnectionGovernor Governor { get; }

    /// <summary>Where the connection is in the governor's lists; read and written under the governor's lock only.</summary>
    internal LinkedListNode<OuterConnection>? Node { get; set; }

    public int Phase => Volatile.Read(ref _phase);

    internal bool TryMove(int from, int to) => Interlocked.CompareExchange(ref _phase, to, from) == from;

    /// <summary>Closes the connection once <paramref name="timeout"/> has passed, unless it has left <paramref name="phase"/> by then.</summary>
    internal void Arm(TimeProvider time, TimeSpan timeout, int phase)
    {
        var timer = time.CreateTimer(static state =>
        {
            var (connection, phase) = ((OuterConnection, int))state!;
            connection.Governor.Expire(connection, phase);
        }, (this, phase), timeout, Timeout.InfiniteTimeSpan);
        Interlocked.Exchange(ref _deadline, timer)?.Dispose();
    }

    private void Disarm() => Interlocked.Exchange(ref _deadline, null)?.Dispose();

    /// <summary>An inner request on this session started; the first one completes the session's start.</summary>
    public void RequestStarted()
    {
        Interlocked.Increment(ref _inFlight);
        if (Phase == Starting && TryMove(Starting, Established))
        {
            Disarm();
        }
    }

    public void RequestEnded() => Interlocked.Decrement(ref _inFlight);

    /// <summary>
    /// Claims an idle session for shedding: true when no request is in flight. A request that starts afterwards
    /// runs on a connection that is being closed, exactly as if it had arrived a moment later.
    /// </summary>
    internal bool TryClaimIdle() => Interlocked.CompareExchange(ref _inFlight, Claimed, 0) == 0;

    /// <summary>Closes the connection at once (the peer sees a reset); the governor has already let go of it.</summary>
    internal void Abort(string reason)
    {
        Volatile.Write(ref _phase, Closed);
        Disarm();
        _context.Abort(new ClosedByGatewayException(reason));
    }

    public void Dispose()
    {
        Volatile.Write(ref _phase, Closed);
        Disarm();
    }
}
