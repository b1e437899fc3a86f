using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Gateway.Diagnostics;

/// <summary>
/// One span per inner request, named after the MCP method as the OpenTelemetry MCP conventions name them
/// (<c>tools/call hello</c>; the HTTP method when the request carries no MCP message), a child of the caller's
/// <c>traceparent</c> when it sent one. Nothing is created unless a tracer listens
/// (an OTLP endpoint is configured). No payload, header or session id is recorded: the session only as the
/// access log's hash.
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

        // ASP.NET Core's hosting layer starts an activity of its own for every request once its diagnostics logger is
        // enabled (the service's logging is), unsampled and never exported. Started under it, our span would take it
        // as parent and the parent-based sampler would drop ours: a request without the caller's traceparent would
        // then never be traced. Our span's parent is the caller's context or nothing.
        var hosting = Activity.Current;
        Activity.Current = null;
        var activity = GatewayTelemetry.Source.StartActivity(ActivityKind.Server, parent, name: GatewayMetrics.MethodLabel(request.Method));
        if (activity is null)
        {
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

    /// <summary>The trace id for the access line: the span's, else the caller's traceparent's, else <c>-</c>.</summary>
    public static string TraceId(Activity? activity, HttpRequest request) =>
        activity is not null ? activity.TraceId.ToHexString()
        : ActivityContext.TryParse(request.Headers.TraceParent.ToString(), null, out var context) ? context.TraceId.ToHexString()
        : "-";
}
