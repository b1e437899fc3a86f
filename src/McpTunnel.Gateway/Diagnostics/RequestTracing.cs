using System.Diagnostics;
using McpTunnel.Configuration;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// One span per inner request, named after the MCP method as the OpenTelemetry MCP conventions name them
/// (<c>tools/call hello</c>; the HTTP method when the request carries no MCP message), a child of the caller's
/// <c>traceparent</c> when it sent one; under it, the upstream request (a client span named after the HTTP
/// method) and, when that request opened a connection, the upstream dial (<c>upstream connect</c>). The two children
/// exist only under a recorded request span: an unsampled request is given up as soon as the sampler answers, and no
/// span is ever a root of its own (decision 0016). Nothing is created unless a tracer listens (an OTLP endpoint is
/// configured). No payload, header or session id is recorded: the session only as the access log's hash.
/// </summary>
internal static class RequestTracing
{
    public static Activity? Start(HttpRequest request, string route)
    {
        if (!GatewayTelemetry.Source.HasListeners())
        {
            return null;
        }

        ActivityContext.TryParse(request.Headers.TraceParent.ToString(), request.Headers.TraceState.ToString(), isRemote: true, out var parent);

        // ASP.NET Core's hosting layer starts an unexported activity of its own per request when its diagnostics
        // logger is enabled (LogLevelFilter keeps it off) or a diagnostic listener asks for one. Should one be
        // current, our span must not take it as parent: the parent-based sampler would drop ours, and a request
        // without the caller's traceparent would never be traced. Our span's parent is the caller's context or nothing.
        var hosting = Activity.Current;
        Activity.Current = null;
        var activity = GatewayTelemetry.Source.StartActivity(ActivityKind.Server, parent, name: GatewayMetrics.MethodLabel(request.Method));
        if (activity is not { IsAllDataRequested: true })
        {
            // Not sampled. OpenTelemetry's SDK still creates an activity for a root or a remote parent it drops
            // (PropagationData: the trace id survives for propagation). The gateway neither exports it nor sends it
            // upstream (an unsampled request passes the caller's trace headers as they came), so keeping it would
            // only cost its tags, an execution-context switch and a trace id in the access line that exists nowhere.
            activity?.Stop();
            Activity.Current = hosting;
            return null;
        }

        activity.SetTag("mcp_tunnel.route", route);
        activity.SetTag("http.request.method", GatewayMetrics.MethodLabel(request.Method));
        return activity;
    }

    public static void Finish(Activity? activity, int status, long bytesIn, long bytesOut, string? rpcMethod, string? tool, string session)
    {
        if (activity is null)
        {
            return;
        }

        if (rpcMethod is not null)
        {
            var method = McpMethods.Label(rpcMethod);
            activity.SetTag(McpMethods.MethodAttribute, method);
            if (method == "tools/call")
            {
                var name = ToolNameLabels.IsWellFormed(tool) ? tool : McpMethods.Other;
                activity.SetTag(McpMethods.ToolAttribute, name);
                activity.DisplayName = $"{method} {name}";
            }
            else
            {
                activity.DisplayName = method;
            }
        }

        activity.SetTag("http.response.status_code", status);
        activity.SetTag("http.request.body.size", bytesIn);
        if (bytesOut >= 0)
        {
            activity.SetTag("http.response.body.size", bytesOut);
        }

        if (session != "-")
        {
            activity.SetTag("mcp_tunnel.session_hash", session);
        }

        if (status >= 500)
        {
            activity.SetStatus(ActivityStatusCode.Error);
        }

        activity.Stop();
    }

    /// <summary>
    /// The upstream request's span, a child of <paramref name="request"/> (which is <see cref="Activity.Current"/>),
    /// and the current activity until <see cref="FinishUpstream"/>: the forwarder's transformer injects its context
    /// (<see cref="IsUpstreamSpan"/>) and the connector's dial becomes its child. Null when the request is not traced.
    /// </summary>
    public static Activity? StartUpstream(Activity? request, string method, UpstreamTarget upstream)
    {
        if (request is null)
        {
            return null;
        }

        var label = GatewayMetrics.MethodLabel(method);
        var activity = GatewayTelemetry.Source.StartActivity(label, ActivityKind.Client);
        if (activity is null)
        {
            return null;
        }

        activity.SetTag("http.request.method", label);
        activity.SetTag("server.address", upstream.Host);
        activity.SetTag("server.port", upstream.Port);
        activity.SetTag("url.scheme", upstream.Scheme);
        return activity;
    }

    /// <summary>Ends the upstream span: the upstream's status, or the forwarder's error as <c>error.type</c>.</summary>
    public static void FinishUpstream(Activity? activity, int status, string? error)
    {
        if (activity is null)
        {
            return;
        }

        if (error is not null)
        {
            activity.SetTag("error.type", error);
            activity.SetStatus(ActivityStatusCode.Error);
        }
        else
        {
            activity.SetTag("http.response.status_code", status);
            if (status >= 500)
            {
                activity.SetStatus(ActivityStatusCode.Error);
            }
        }

        activity.Stop();
    }

    /// <summary>Whether <paramref name="activity"/> is the gateway's span of an upstream request.</summary>
    public static bool IsUpstreamSpan(Activity? activity) =>
        activity is { Kind: ActivityKind.Client } && ReferenceEquals(activity.Source, GatewayTelemetry.Source);

    /// <summary>
    /// The dial of a new upstream connection, a child of the upstream span of the request that caused it (the
    /// connection pool runs the dial in that request's execution context). Null when that request is not traced or
    /// no request span is current: a pooled connection's dial is never a trace of its own.
    /// </summary>
    public static Activity? StartDial(string host, int port, bool https)
    {
        if (!IsUpstreamSpan(Activity.Current))
        {
            return null;
        }

        var activity = GatewayTelemetry.Source.StartActivity("upstream connect", ActivityKind.Internal);
        if (activity is null)
        {
            return null;
        }

        activity.SetTag("server.address", host);
        activity.SetTag("server.port", port);
        activity.SetTag("url.scheme", https ? "https" : "http");
        return activity;
    }

    /// <summary>Ends the dial span: the address connected to, or the failure as it is logged.</summary>
    public static void FinishDial(Activity? activity, System.Net.IPAddress? peer, Exception? failure)
    {
        if (activity is null)
        {
            return;
        }

        if (failure is not null)
        {
            activity.SetTag("error.type", failure.GetType().Name);
            activity.SetStatus(ActivityStatusCode.Error, failure.Message);
        }
        else if (peer is not null)
        {
            activity.SetTag("network.peer.address", peer.ToString());
        }

        activity.Stop();
    }

    /// <summary>The trace id for the access line: the span's, else the caller's traceparent's, else <c>-</c>.</summary>
    public static string TraceId(Activity? activity, HttpRequest request) =>
        activity is not null ? activity.TraceId.ToHexString()
        : ActivityContext.TryParse(request.Headers.TraceParent.ToString(), null, out var context) ? context.TraceId.ToHexString()
        : "-";
}
