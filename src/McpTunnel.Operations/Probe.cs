using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using McpTunnel.Gateway;

namespace McpTunnel.Operations;

/// <summary>
/// Runs what the tunnel edge and Claude do, against a gateway: WebSocket, inner TLS with certificate checks,
/// then MCP <c>initialize</c>, <c>notifications/initialized</c>, <c>tools/list</c> and a session DELETE over
/// Streamable HTTP. Each step is timed; the first failure ends the run and says why.
/// </summary>
public static class Probe
{
    private const string ProtocolVersion = McpInitialize.ProtocolVersion;

    public static async Task<ProbeReport> RunAsync(ProbeOptions options, CancellationToken cancellationToken)
    {
        var steps = new List<ProbeStep>();
        var overall = Stopwatch.GetTimestamp();

        // A first connection on its own, so the WebSocket and TLS timings and the certificate are reported
        // separately from the MCP exchange (which then runs on a connection of its own).
        try
        {
            var alpn = options.Http2 ? System.Net.Security.SslApplicationProtocol.Http2 : System.Net.Security.SslApplicationProtocol.Http11;
            await using var first = await EdgeClient.ConnectAsync(options.Edge with { ApplicationProtocols = [alpn] }, options.Host, cancellationToken).ConfigureAwait(false);
            var cert = first.ServerCertificate;
            steps.Add(new ProbeStep("websocket", true, first.WebSocketConnect, $"connected to {options.Edge.Gateway}"));
            steps.Add(new ProbeStep("inner tls", true, first.TlsHandshake,
                $"{first.Stream.SslProtocol} alpn={first.Stream.NegotiatedApplicationProtocol} cert CN={cert?.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false)} expires {cert?.NotAfter.ToUniversalTime():yyyy-MM-dd}"));
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or System.Net.WebSockets.WebSocketException)
        {
            steps.Add(new ProbeStep("connect", false, Stopwatch.GetElapsedTime(overall), Explain(ex)));
            return new ProbeReport(steps);
        }

        using var handler = EdgeClient.CreateHandler(options.Edge);
        using var client = new HttpClient(handler) { Timeout = options.RequestTimeout };

        string? sessionId = null;
        var negotiatedVersion = ProtocolVersion;
        try
        {
            var started = Stopwatch.GetTimestamp();
            // initialize includes opening the connection the MCP exchange runs on.
            var (status, headers, message, body) = await PostAsync(client, options, null, ProtocolVersion,
                McpInitialize.Body("mcp-tunnel-probe"),
                expectId: 1, cancellationToken).ConfigureAwait(false);
            var initializeTime = Stopwatch.GetElapsedTime(started);

            if (status is HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout && message is null)
            {
                steps.Add(new ProbeStep("initialize", false, initializeTime, GatewayError(status, body, options.Host)));
                return new ProbeReport(steps);
            }

            if (message is null || !message.RootElement.TryGetProperty("result", out var result))
            {
                steps.Add(new ProbeStep("initialize", false, initializeTime, $"HTTP {(int)status}: {Describe(message)}"));
                return new ProbeReport(steps);
            }

            sessionId = headers.TryGetValues("Mcp-Session-Id", out var ids) ? ids.FirstOrDefault() : null;
            negotiatedVersion = result.TryGetProperty("protocolVersion", out var pv) ? pv.GetString() ?? ProtocolVersion : ProtocolVersion;
            var server = result.TryGetProperty("serverInfo", out var info)
                ? $"{info.GetProperty("name").GetString()} {(info.TryGetProperty("version", out var v) ? v.GetString() : "")}".Trim()
                : "(no serverInfo)";
            steps.Add(new ProbeStep("initialize", true, initializeTime,
                $"server {server}, protocol {negotiatedVersion}, session {(sessionId is null ? "none (stateless)" : "issued")}"));

            started = Stopwatch.GetTimestamp();
            (status, _, _, _) = await PostAsync(client, options, sessionId, negotiatedVersion,
                """{"jsonrpc":"2.0","method":"notifications/initialized"}""", expectId: null, cancellationToken).ConfigureAwait(false);
            steps.Add(new ProbeStep("initialized", (int)status is >= 200 and < 300, Stopwatch.GetElapsedTime(started), $"HTTP {(int)status}"));

            started = Stopwatch.GetTimestamp();
            (status, _, message, _) = await PostAsync(client, options, sessionId, negotiatedVersion,
                """{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""", expectId: 2, cancellationToken).ConfigureAwait(false);
            var tools = message is not null && message.RootElement.TryGetProperty("result", out var listResult) && listResult.TryGetProperty("tools", out var toolArray)
                ? toolArray.EnumerateArray().Select(t => t.GetProperty("name").GetString() ?? "?").ToList()
                : null;
            steps.Add(new ProbeStep("tools/list", tools is not null, Stopwatch.GetElapsedTime(started),
                tools is null ? $"HTTP {(int)status}: {Describe(message)}" : $"{tools.Count} tool(s): {string.Join(", ", tools.Take(10))}{(tools.Count > 10 ? ", …" : "")}"));

            if (options.ToolCall is { } call && tools is not null)
            {
                started = Stopwatch.GetTimestamp();
                var name = JsonEncodedText.Encode(call.Name);
                (status, _, message, _) = await PostAsync(client, options, sessionId, negotiatedVersion,
                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"" + name + "\",\"arguments\":" + call.ArgumentsJson + "}}",
                    expectId: 3, cancellationToken).ConfigureAwait(false);
                var text = message is not null && message.RootElement.TryGetProperty("result", out var callResult) && callResult.TryGetProperty("content", out var content)
                    ? string.Join(" ", content.EnumerateArray().Where(c => c.TryGetProperty("text", out _)).Select(c => c.GetProperty("text").GetString()))
                    : null;
                var isError = message is not null && message.RootElement.TryGetProperty("result", out var r) && r.TryGetProperty("isError", out var e) && e.ValueKind == JsonValueKind.True;
                steps.Add(new ProbeStep("tools/call", text is not null && !isError, Stopwatch.GetElapsedTime(started),
                    text is null ? $"HTTP {(int)status}: {Describe(message)}" : $"{call.Name} -> {Shorten(text)}"));
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or System.Net.WebSockets.WebSocketException or JsonException)
        {
            steps.Add(new ProbeStep("request", false, Stopwatch.GetElapsedTime(overall), Explain(ex)));
            return new ProbeReport(steps);
        }
        finally
        {
            if (sessionId is not null)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var delete = EdgeClient.NewRequest(HttpMethod.Delete, options.Host, options.Path, options.Http2);
                    delete.Headers.Add("Mcp-Session-Id", sessionId);
                    delete.Headers.Add("MCP-Protocol-Version", negotiatedVersion);
                    using var response = await client.SendAsync(delete, cancellationToken).ConfigureAwait(false);
                    // 405 means the server does not let clients end sessions; that is allowed by the spec.
                    var ok = response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.MethodNotAllowed;
                    steps.Add(new ProbeStep("session delete", ok, Stopwatch.GetElapsedTime(started), $"HTTP {(int)response.StatusCode}"));
                }
                catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
                {
                    steps.Add(new ProbeStep("session delete", false, Stopwatch.GetElapsedTime(started), Explain(ex)));
                }
            }
        }

        return new ProbeReport(steps);
    }

    private static async Task<(HttpStatusCode Status, HttpResponseHeaders Headers, JsonDocument? Message, string? Text)> PostAsync(
        HttpClient client, ProbeOptions options, string? sessionId, string protocolVersion, string body, int? expectId, CancellationToken cancellationToken)
    {
        using var request = EdgeClient.NewRequest(HttpMethod.Post, options.Host, options.Path, options.Http2);
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        McpInitialize.AcceptStreamableHttp(request);
        if (sessionId is not null)
        {
            request.Headers.Add("Mcp-Session-Id", sessionId);
            request.Headers.Add("MCP-Protocol-Version", protocolVersion);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (expectId is null || !response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            return (response.StatusCode, response.Headers, TryParse(text), text);
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var isEventStream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
        var message = isEventStream
            ? await ReadEventStreamAsync(stream, expectId.Value, cancellationToken).ConfigureAwait(false)
            : await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
        return (response.StatusCode, response.Headers, message, null);
    }

    /// <summary>Reads SSE events until the JSON-RPC response with the expected id arrives.</summary>
    private static async Task<JsonDocument?> ReadEventStreamAsync(Stream stream, int expectId, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Append(line.AsSpan(5).TrimStart(' ')).Append('\n');
                continue;
            }

            if (line.Length == 0 && data.Length > 0)
            {
                var document = TryParse(data.ToString());
                data.Clear();
                if (document is not null && document.RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number && id.GetInt32() == expectId)
                {
                    return document;
                }

                document?.Dispose();
            }
        }

        return null;
    }

    private static string Shorten(string text) => text.Length <= 120 ? text : $"{text[..117]}… ({text.Length} chars)";

    private static JsonDocument? TryParse(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// A 502/504 the gateway made itself, by its body (InnerRequestHandler's texts; the spec's for no route): which
    /// hop failed and what to change.
    /// </summary>
    internal static string GatewayError(HttpStatusCode status, string? body, string host)
    {
        body = body?.Trim() ?? "";
        if (body.StartsWith("No route configured for host", StringComparison.Ordinal))
        {
            return $"HTTP 502 No route configured for host: the gateway has no route for {host}; the first label must be a key under routes: and tunnel_domain the tunnel's domain";
        }

        if (body.Contains("IP policy", StringComparison.Ordinal))
        {
            return $"HTTP 502 from the gateway's IP policy: the route's upstream address is not in upstream.allowed_ips; add it (the gateway log's \"IP validation failed\" line names it; mcp-tunnel config validate names the entry)";
        }

        if (status == HttpStatusCode.GatewayTimeout)
        {
            return $"HTTP 504 from the gateway: {(body.Length > 0 ? body : "the upstream timed out")}; is the MCP server running and reachable from the gateway?";
        }

        return $"HTTP 502 from the gateway: {(body.Length > 0 ? body : "the upstream failed")}; the gateway log's \"upstream request failed\" line says why";
    }

    private static string Describe(JsonDocument? message) =>
        message is null ? "no JSON-RPC response" :
        message.RootElement.TryGetProperty("error", out var error) ? $"JSON-RPC error {error}" : message.RootElement.ToString();

    private static string Explain(Exception ex)
    {
        var text = ExceptionChain.Describe(ex);
        return ex switch
        {
            HttpRequestException { InnerException: System.Net.WebSockets.WebSocketException } or System.Net.WebSockets.WebSocketException =>
                $"{text} (is the gateway listening there? is cloudflared's --url pointing at it?)",
            _ => text,
        };
    }
}
