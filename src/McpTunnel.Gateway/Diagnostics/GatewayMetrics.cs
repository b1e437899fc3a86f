using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// What the data path counts, for operators and tests. Counters are plain interlocked fields read by observable
/// instruments on the <see cref="GatewayInstruments.MeterName"/> meter (so the hot path pays one atomic add per
/// event, as before, and an exporter reads them only when it collects); durations are histogram instruments.
/// Every label value comes from a closed set, never
/// from what a client sent: route names from the configuration, HTTP methods from <see cref="MethodLabel"/>
/// (the standard methods, else <c>_OTHER</c>), status classes from <see cref="StatusLabel"/>, handshake failure
/// reasons from a fixed list, MCP methods from <see cref="McpMethods"/> and tool names bounded per route
/// (<see cref="ToolNameLabels"/>); so no request can add a series. The instrument names are in
/// <see cref="GatewayInstruments"/>.
/// </summary>
public sealed class GatewayMetrics
{
    public GatewayMetrics()
    {
        // The scope tells this gateway's meter apart from another's in the same process (tests run many): a
        // gateway's metric provider reads only meters scoped to it (GatewayTelemetry).
        Meter = new Meter(new MeterOptions(GatewayInstruments.MeterName) { Scope = this });
        (_duration, _mcpDuration) = GatewayInstruments.Create(Meter, this);
    }

    /// <summary>The meter every instrument of this gateway lives on (disposed with the gateway).</summary>
    public Meter Meter { get; }

    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _mcpDuration;
    private readonly ToolNameLabels _tools = new();
    private long _activeWebSockets;
    private long _webSocketsTotal;
    private long _requests;
    private long _noRoute;
    private long _ipRejections;
    private long _tlsHandshakeFailures;
    private long _upstreamErrors;
    private long _clientErrors;

    public long ActiveWebSockets => Interlocked.Read(ref _activeWebSockets);

    public long WebSocketsTotal => Interlocked.Read(ref _webSocketsTotal);

    public long Requests => Interlocked.Read(ref _requests);

    public long NoRoute => Interlocked.Read(ref _noRoute);

    public long IpRejections => Interlocked.Read(ref _ipRejections);

    public long TlsHandshakeFailures => Interlocked.Read(ref _tlsHandshakeFailures);

    public long UpstreamErrors => Interlocked.Read(ref _upstreamErrors);

    /// <summary>Requests refused or failed because of the client: an invalid Host, CONNECT, a malformed body, a client that went away mid-response.</summary>
    public long ClientErrors => Interlocked.Read(ref _clientErrors);

    internal void WebSocketOpened()
    {
        Interlocked.Increment(ref _activeWebSockets);
        Interlocked.Increment(ref _webSocketsTotal);
    }

    internal void WebSocketClosed() => Interlocked.Decrement(ref _activeWebSockets);

    internal void RequestStarted() => Interlocked.Increment(ref _requests);

    internal void NoRouteForHost() => Interlocked.Increment(ref _noRoute);

    internal void IpRejected() => Interlocked.Increment(ref _ipRejections);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long[]> _tlsFailuresByReason = new();

    internal void TlsHandshakeFailed(string reason)
    {
        Interlocked.Increment(ref _tlsHandshakeFailures);
        Interlocked.Increment(ref _tlsFailuresByReason.GetOrAdd(reason, static _ => new long[1])[0]);
    }

    /// <summary>Failed handshakes by reason: unknown_ca, bad_certificate, expired, plaintext, protocol, timeout, closed, other.</summary>
    public IEnumerable<(string Reason, long Count)> TlsHandshakeFailuresByReason =>
        _tlsFailuresByReason.Select(p => (p.Key, Interlocked.Read(ref p.Value[0])));

    internal void UpstreamError() => Interlocked.Increment(ref _upstreamErrors);

    internal void ClientError() => Interlocked.Increment(ref _clientErrors);

    /// <summary>The <c>method</c> label: the method's canonical name when it is one of RFC 9110's or PATCH, else <c>_OTHER</c>.</summary>
    public static string MethodLabel(string method) => method switch
    {
        "GET" => "GET",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    };

    private static readonly string[] StatusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    /// <summary>The <c>status</c> label: the status class (<c>2xx</c> … <c>5xx</c>), <c>other</c> outside 100–599.</summary>
    public static string StatusLabel(int status) => status is >= 100 and <= 599 ? StatusClasses[(status / 100) - 1] : "other";

    private readonly long[] _shed = new long[Enum.GetValues<ShedReason>().Length];
    private readonly long[] _refused = new long[Enum.GetValues<RefusalReason>().Length];
    private long _openConnections;

    /// <summary>Connections open on <c>listen_addr</c>, tunnel sessions included.</summary>
    public long OpenConnections => Interlocked.Read(ref _openConnections);

    internal void ConnectionOpened() => Interlocked.Increment(ref _openConnections);

    internal void ConnectionClosed() => Interlocked.Decrement(ref _openConnections);

    private long _memoryReclaims;

    /// <summary>Collections the gateway asked for after a flood of connections ended (ConnectionGovernor).</summary>
    public long MemoryReclaims => Interlocked.Read(ref _memoryReclaims);

    internal void MemoryReclaimed() => Interlocked.Increment(ref _memoryReclaims);

    private int _memoryReclaimPending;

    /// <summary>
    /// True while a collection waits for the rest of <c>ConnectionGovernor.ReclaimInterval</c> (a flood ended within a
    /// minute of the last collection). Tests wait for it before they move the clock.
    /// </summary>
    public bool MemoryReclaimPending => Volatile.Read(ref _memoryReclaimPending) != 0;

    internal void MemoryReclaimScheduled(bool pending) => Volatile.Write(ref _memoryReclaimPending, pending ? 1 : 0);

    internal void ConnectionShed(ShedReason reason) => Interlocked.Increment(ref _shed[(int)reason]);

    internal void ConnectionRefused(RefusalReason reason) => Interlocked.Increment(ref _refused[(int)reason]);

    public long Shed(ShedReason reason) => Interlocked.Read(ref _shed[(int)reason]);

    public long Refused(RefusalReason reason) => Interlocked.Read(ref _refused[(int)reason]);

    /// <summary>The metric label of a reason: <c>connection_limit</c>, <c>first_request_timeout</c>, ...</summary>
    public static string Label(ShedReason reason) => reason switch
    {
        ShedReason.ConnectionLimit => "connection_limit",
        ShedReason.SessionLimit => "session_limit",
        ShedReason.UpgradeTimeout => "upgrade_timeout",
        ShedReason.FirstRequestTimeout => "first_request_timeout",
        _ => "health_limit",
    };

    public static string Label(RefusalReason reason) => reason == RefusalReason.ConnectionLimit ? "connection_limit" : "session_limit";

    /// <summary>Upper bounds, in seconds, of the request duration histogram buckets.</summary>
    public static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Route, string Method, string Status), long[]> _byRoute = new();

    internal void RequestFinished(string route, string method, int status, TimeSpan elapsed)
    {
        var counter = _byRoute.GetOrAdd((route, MethodLabel(method), StatusLabel(status)), static _ => new long[1]);
        Interlocked.Increment(ref counter[0]);
        _duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("route", route));
    }

    /// <summary>Whether anything reads MCP call durations (then the request body's first bytes are peeked for the method).</summary>
    internal bool McpCallsObserved => _mcpDuration.Enabled;

    /// <summary>One MCP message through <paramref name="route"/>: its JSON-RPC method (closed list) and, for tools/call, the tool (bounded).</summary>
    internal void McpCallFinished(string route, string? rpcMethod, string? tool, int status, TimeSpan elapsed)
    {
        if (rpcMethod is null || !_mcpDuration.Enabled)
        {
            return;
        }

        var method = McpMethods.Label(rpcMethod);
        var tags = new TagList
        {
            { "route", route },
            { McpMethods.MethodAttribute, method },
            { "status", StatusLabel(status) },
        };
        if (method == "tools/call")
        {
            tags.Add(McpMethods.ToolAttribute, _tools.Label(route, tool));
        }

        _mcpDuration.Record(elapsed.TotalSeconds, tags);
    }

    /// <summary>Requests by route, method label and status class.</summary>
    public IEnumerable<(string Route, string Method, string Status, long Count)> RequestsByRoute =>
        _byRoute.Select(p => (p.Key.Route, p.Key.Method, p.Key.Status, Interlocked.Read(ref p.Value[0])));

    /// <summary>Failed handshakes by reason, as the instrument reads them.</summary>
    internal IEnumerable<KeyValuePair<string, long[]>> TlsFailureCells => _tlsFailuresByReason;

    internal long ShedCount(int reason) => Interlocked.Read(ref _shed[reason]);

    internal long RefusedCount(int reason) => Interlocked.Read(ref _refused[reason]);
}
