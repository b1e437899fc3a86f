using System.Net;
using System.Net.Sockets;
using System.Text;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Tests.Infrastructure;
using ModelContextProtocol.Client;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// <c>/metrics</c> on the health listener, as Prometheus reads it: parsed with a strict text-format parser after
/// real traffic through the tunnel (the MCP SDK client, raw JSON-RPC, hostile methods and tool names), every
/// series name and label checked against a closed list.
/// </summary>
public sealed class MetricsEndpointTests : IAsyncLifetime
{
    private TestMcpServer _mcp = null!;
    private EchoUpstream _echo = null!;
    private GatewayHarness _gateway = null!;
    private int _healthPort;

    public async Task InitializeAsync()
    {
        _mcp = await TestMcpServer.StartAsync();
        _echo = await EchoUpstream.StartAsync();
        using (var free = new TcpListener(IPAddress.Loopback, 0))
        {
            free.Start();
            _healthPort = ((IPEndPoint)free.LocalEndpoint).Port;
        }

        _gateway = await GatewayHarness.StartAsync(
            $"mcp: http://127.0.0.1:{_mcp.Port}\necho: http://127.0.0.1:{_echo.Port}",
            $"upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  health_addr: \"127.0.0.1:{_healthPort}\"",
            logLevel: "info",
            health: new McpTunnel.Operations.Health.HealthEndpoint(null, TimeProvider.System));
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _echo.DisposeAsync();
        await _mcp.DisposeAsync();
    }

    private async Task<(string ContentType, string Body)> ScrapeAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{_healthPort}/metrics"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response.Content.Headers.ContentType?.ToString() ?? "", await response.Content.ReadAsStringAsync());
    }

    private static StringContent Rpc(string method, string? tool = null) => new(
        tool is null
            ? $$"""{"jsonrpc":"2.0","id":1,"method":"{{method}}"}"""
            : $$"""{"jsonrpc":"2.0","id":1,"method":"{{method}}","params":{"name":"{{tool}}","arguments":{""" + "}}}",
        Encoding.UTF8, "application/json");

    /// <summary>Every sample name /metrics may carry: ours (docs/operations.md) and the platform meters' we export.</summary>
    internal static readonly Dictionary<string, string[]> Closed = new(StringComparer.Ordinal)
    {
        ["mcp_tunnel_requests_total"] = ["route", "method", "status"],
        ["mcp_tunnel_requests_received_total"] = [],
        ["mcp_tunnel_request_duration_seconds_bucket"] = ["route", "le"],
        ["mcp_tunnel_request_duration_seconds_sum"] = ["route"],
        ["mcp_tunnel_request_duration_seconds_count"] = ["route"],
        ["mcp_tunnel_mcp_call_duration_seconds_bucket"] = ["route", "mcp_method_name", "gen_ai_tool_name", "status", "le"],
        ["mcp_tunnel_mcp_call_duration_seconds_sum"] = ["route", "mcp_method_name", "gen_ai_tool_name", "status"],
        ["mcp_tunnel_mcp_call_duration_seconds_count"] = ["route", "mcp_method_name", "gen_ai_tool_name", "status"],
        ["mcp_tunnel_no_route_total"] = [],
        ["mcp_tunnel_upstream_errors_total"] = [],
        ["mcp_tunnel_client_errors_total"] = [],
        ["mcp_tunnel_ip_rejections_total"] = [],
        ["mcp_tunnel_tls_handshake_failures_total"] = ["reason"],
        ["mcp_tunnel_websockets_active"] = [],
        ["mcp_tunnel_websockets_total"] = [],
        ["mcp_tunnel_connections_active"] = [],
        ["mcp_tunnel_connections_shed_total"] = ["reason"],
        ["mcp_tunnel_connections_refused_total"] = ["reason"],
        ["mcp_tunnel_memory_reclaims_total"] = [],
        ["mcp_tunnel_certificate_expiry_timestamp_seconds"] = [],
        ["mcp_tunnel_certificate_reloads_total"] = [],
        ["mcp_tunnel_cloudflared_ready"] = [],
        ["mcp_tunnel_cloudflared_restarts_total"] = [],
        ["mcp_tunnel_cloudflared_last_exit_code"] = [],
    };

    /// <summary>Label values of our series: each from a closed set, never from what a client sent.</summary>
    private static readonly Dictionary<string, string[]> ClosedValues = new(StringComparer.Ordinal)
    {
        ["route"] = ["mcp", "echo"],
        ["method"] = ["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER"],
        ["status"] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"],
        ["reason"] = ["unknown_ca", "bad_certificate", "expired", "plaintext", "protocol", "timeout", "closed", "other",
            "connection_limit", "session_limit", "upgrade_timeout", "first_request_timeout", "health_limit"],
        ["mcp_method_name"] = McpMethods.Labels.ToArray(),
    };

    [Fact]
    public async Task Metrics_parse_and_every_series_and_label_is_from_a_closed_list()
    {
        using (var http = _gateway.CreateClient())
        {
            await using (var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = new Uri($"https://{GatewayHarness.Host("mcp")}/mcp"),
                TransportMode = HttpTransportMode.StreamableHttp,
            }, http, loggerFactory: null, ownsHttpClient: false)))
            {
                await client.CallToolAsync("hello", new Dictionary<string, object?> { ["name"] = "metrics" });
            }

            // A client choosing tool names: the first 50 well-formed ones per route get a label, the rest _other.
            var echo = new Uri($"https://{GatewayHarness.Host("echo")}/mcp");
            for (var i = 0; i < ToolNameLabels.PerRoute + 10; i++)
            {
                using var response = await http.PostAsync(echo, Rpc("tools/call", $"tool{i}"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            foreach (var hostile in new[] { new string('X', 7000), "bad name\\n{}\\\"" })
            {
                using var response = await http.PostAsync(echo, Rpc("tools/call", hostile));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using (var response = await http.PostAsync(echo, Rpc("XXXX/not-in-the-spec")))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using (var request = new HttpRequestMessage(new HttpMethod("XXXXMETHOD"), echo))
            using (var response = await http.SendAsync(request))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using (var response = await http.GetAsync(new Uri($"https://nowhere.{TestPki.Domain}/")))
            {
                Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            }
        }

        // Plain HTTP where inner TLS should start: a handshake failure with its reason.
        using (var webSocket = new System.Net.WebSockets.ClientWebSocket())
        {
            await webSocket.ConnectAsync(_gateway.WebSocketUri, CancellationToken.None);
            await webSocket.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), System.Net.WebSockets.WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
            await _gateway.Logs.WaitForAsync("tls handshake failed");
        }

        // The access line is written when the request ends, after the client has its answer, and just after its
        // metrics. Requests end on their own threads, so one answered earlier may finish after a later one: wait for
        // every echo request's line (50 + 10 tool calls, 2 hostile names, the unknown method and XXXXMETHOD) and the
        // MCP call's, not only the last one sent.
        const int echoRequests = ToolNameLabels.PerRoute + 10 + 2 + 1 + 1;
        await Eventually.WaitAsync(() => _gateway.Logs.Messages.Count(m => m.StartsWith("request finished route=echo ", StringComparison.Ordinal)) == echoRequests,
            () => $"{_gateway.Logs.Messages.Count(m => m.StartsWith("request finished route=echo ", StringComparison.Ordinal))} of {echoRequests} echo requests finished");
        await _gateway.Logs.WaitForAsync("rpc=tools/call tool=hello");
        var (contentType, body) = await ScrapeAsync();
        Assert.StartsWith("text/plain", contentType, StringComparison.Ordinal);
        var metrics = PrometheusText.Parse(body);
        Assert.DoesNotContain("XXXX", body, StringComparison.Ordinal);

        var unknown = new List<string>();
        foreach (var sample in metrics.Samples)
        {
            if (Closed.TryGetValue(sample.Name, out var keys) || PlatformSeries.TryGetValue(sample.Name, out keys))
            {
                unknown.AddRange(sample.Labels.Keys.Where(k => !keys.Contains(k)).Select(k => $"{sample.Name}: label {k}"));
            }
            else
            {
                unknown.Add($"{sample.Name}: not a series the documentation lists");
            }

            if (!sample.Name.StartsWith("mcp_tunnel_", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var (key, value) in sample.Labels)
            {
                if (ClosedValues.TryGetValue(key, out var values) && !values.Contains(value))
                {
                    unknown.Add($"{sample.Name}: {key}=\"{value}\" is not from its closed set");
                }
            }
        }

        Assert.True(unknown.Count == 0, string.Join("\n", unknown.Distinct()) + "\n---\n" + body);

        // Ours are there, with the right values.
        Assert.Equal(ToolNameLabels.PerRoute + 10 + 2 + 1, metrics.Value("mcp_tunnel_requests_total", ("route", "echo"), ("method", "POST"), ("status", "2xx")));
        Assert.Equal(1, metrics.Value("mcp_tunnel_requests_total", ("route", "echo"), ("method", "_OTHER"), ("status", "2xx")));
        Assert.Equal(1, metrics.Value("mcp_tunnel_no_route_total"));
        // The clients are gone by now: their sessions were counted and closed.
        Assert.True(metrics.Value("mcp_tunnel_websockets_total") >= 2);
        Assert.Equal(0, metrics.Value("mcp_tunnel_websockets_active"));
        Assert.Equal(1, metrics.Value("mcp_tunnel_mcp_call_duration_seconds_count", ("route", "mcp"), ("mcp_method_name", "tools/call"), ("gen_ai_tool_name", "hello"), ("status", "2xx")));
        Assert.Equal(1, metrics.Value("mcp_tunnel_mcp_call_duration_seconds_count", ("route", "mcp"), ("mcp_method_name", "initialize"), ("status", "2xx")));
        Assert.Equal(1, metrics.Value("mcp_tunnel_mcp_call_duration_seconds_count", ("route", "echo"), ("mcp_method_name", "_other"), ("status", "2xx")));
        var tools = metrics.Find("mcp_tunnel_mcp_call_duration_seconds_count", ("route", "echo"), ("mcp_method_name", "tools/call")).ToList();
        Assert.Equal(ToolNameLabels.PerRoute + 1, tools.Count);
        Assert.Equal(12, Assert.Single(tools, t => t.Labels["gen_ai_tool_name"] == "_other").Value);
        Assert.Equal(Enumerable.Range(0, ToolNameLabels.PerRoute).Select(i => $"tool{i}").Order(StringComparer.Ordinal),
            tools.Select(t => t.Labels["gen_ai_tool_name"]).Where(t => t != "_other").Order(StringComparer.Ordinal));
        Assert.True(metrics.Value("mcp_tunnel_certificate_expiry_timestamp_seconds") > DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal("histogram", metrics.Types["mcp_tunnel_request_duration_seconds"]);
        Assert.Equal("counter", metrics.Types["mcp_tunnel_requests_total"]);
        Assert.Equal("gauge", metrics.Types["mcp_tunnel_websockets_active"]);

        Assert.Equal(1, metrics.Value("mcp_tunnel_tls_handshake_failures_total", ("reason", "plaintext")));

        // Every metric the shipped Grafana dashboard queries is one /metrics has; the cloudflared ones only exist
        // under run with a connector, where RunCommandTests checks them in the binary's /metrics.
        var queried = DashboardMetrics();
        Assert.True(queried.Count >= 12, string.Join(", ", queried));
        var exposed = metrics.Samples.Select(s => s.Name).Concat(CloudflaredSeries).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(queried, name => !exposed.Contains(name));

        // And the platform's: Kestrel's connections and TLS handshakes, ASP.NET Core's requests, HttpClient's upstream requests, the runtime.
        foreach (var name in new[] { "kestrel_active_connections", "kestrel_tls_handshake_duration_seconds_count", "http_server_request_duration_seconds_count",
            "http_client_request_duration_seconds_count", "dotnet_gc_collections_total", "dotnet_process_cpu_time_seconds_total", "dotnet_process_memory_working_set_bytes" })
        {
            Assert.True(metrics.Find(name).Any(), $"{name} is missing from /metrics:\n{body}");
        }
    }

    /// <summary>Series only <c>run</c> has (the connector's), checked in the binary by RunCommandTests.</summary>
    internal static readonly string[] CloudflaredSeries = ["mcp_tunnel_cloudflared_ready", "mcp_tunnel_cloudflared_restarts_total", "mcp_tunnel_cloudflared_last_exit_code"];

    /// <summary>The metric names in the dashboard's queries: every name that a label selector follows.</summary>
    internal static IReadOnlyCollection<string> DashboardMetrics()
    {
        var file = Path.Combine(RepoRoot(), "packaging", "common", "grafana", "mcp-tunnel.json");
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var panel in dashboard.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                var expr = target.GetProperty("expr").GetString()!;
                var matches = System.Text.RegularExpressions.Regex.Matches(expr, "([a-zA-Z_:][a-zA-Z0-9_:]*)\\{");
                Assert.True(matches.Count > 0, $"no metric in {expr}");
                names.UnionWith(matches.Select(m => m.Groups[1].Value));
            }
        }

        return names;
    }

    private static string RepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root");
    }

    /// <summary>The platform meters' series (Kestrel, hosting, HttpClient, DNS, runtime) with their labels.</summary>
    internal static readonly Dictionary<string, string[]> PlatformSeries = new(StringComparer.Ordinal)
    {
        ["dns_lookup_duration_seconds_bucket"] = ["dns_question_name", "error_type", "le"],
        ["dns_lookup_duration_seconds_count"] = ["dns_question_name", "error_type"],
        ["dns_lookup_duration_seconds_sum"] = ["dns_question_name", "error_type"],
        ["dotnet_assembly_count"] = [],
        ["dotnet_exceptions_total"] = ["error_type"],
        ["dotnet_gc_collections_total"] = ["gc_heap_generation"],
        ["dotnet_gc_heap_total_allocated_bytes_total"] = [],
        ["dotnet_gc_last_collection_heap_fragmentation_size_bytes"] = ["gc_heap_generation"],
        ["dotnet_gc_last_collection_heap_size_bytes"] = ["gc_heap_generation"],
        ["dotnet_gc_last_collection_memory_committed_size_bytes"] = [],
        ["dotnet_gc_pause_time_seconds_total"] = [],
        ["dotnet_jit_compilation_time_seconds_total"] = [],
        ["dotnet_jit_compiled_il_size_bytes_total"] = [],
        ["dotnet_jit_compiled_methods_total"] = [],
        ["dotnet_monitor_lock_contentions_total"] = [],
        ["dotnet_process_cpu_count"] = [],
        ["dotnet_process_cpu_time_seconds_total"] = ["cpu_mode"],
        ["dotnet_process_memory_working_set_bytes"] = [],
        ["dotnet_thread_pool_queue_length_total"] = [],
        ["dotnet_thread_pool_thread_count_total"] = [],
        ["dotnet_thread_pool_work_item_count_total"] = [],
        ["dotnet_timer_count"] = [],
        ["http_client_active_requests"] = ["http_request_method", "server_address", "server_port", "url_scheme"],
        ["http_client_connection_duration_seconds_bucket"] = ["le", "network_peer_address", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_connection_duration_seconds_count"] = ["network_peer_address", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_connection_duration_seconds_sum"] = ["network_peer_address", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_open_connections"] = ["http_connection_state", "network_peer_address", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_duration_seconds_bucket"] = ["error_type", "http_request_method", "http_response_status_code", "le", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_duration_seconds_count"] = ["error_type", "http_request_method", "http_response_status_code", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_duration_seconds_sum"] = ["error_type", "http_request_method", "http_response_status_code", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_time_in_queue_seconds_bucket"] = ["http_request_method", "le", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_time_in_queue_seconds_count"] = ["http_request_method", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_client_request_time_in_queue_seconds_sum"] = ["http_request_method", "network_protocol_version", "server_address", "server_port", "url_scheme"],
        ["http_server_active_requests"] = ["http_request_method", "url_scheme"],
        ["http_server_request_duration_seconds_bucket"] = ["http_request_method", "http_response_status_code", "le", "network_protocol_version", "url_scheme"],
        ["http_server_request_duration_seconds_count"] = ["http_request_method", "http_response_status_code", "network_protocol_version", "url_scheme"],
        ["http_server_request_duration_seconds_sum"] = ["http_request_method", "http_response_status_code", "network_protocol_version", "url_scheme"],
        ["kestrel_active_connections"] = ["network_transport", "network_type", "server_address", "server_port"],
        ["kestrel_active_tls_handshakes"] = ["network_transport", "server_address"],
        ["kestrel_connection_duration_seconds_bucket"] = ["error_type", "le", "network_protocol_name", "network_protocol_version", "network_transport", "network_type", "server_address", "server_port", "tls_protocol_version"],
        ["kestrel_connection_duration_seconds_count"] = ["error_type", "network_protocol_name", "network_protocol_version", "network_transport", "network_type", "server_address", "server_port", "tls_protocol_version"],
        ["kestrel_connection_duration_seconds_sum"] = ["error_type", "network_protocol_name", "network_protocol_version", "network_transport", "network_type", "server_address", "server_port", "tls_protocol_version"],
        ["kestrel_queued_connections"] = ["network_transport", "network_type", "server_address", "server_port"],
        ["kestrel_tls_handshake_duration_seconds_bucket"] = ["error_type", "le", "network_transport", "server_address", "tls_protocol_version"],
        ["kestrel_tls_handshake_duration_seconds_count"] = ["error_type", "network_transport", "server_address", "tls_protocol_version"],
        ["kestrel_tls_handshake_duration_seconds_sum"] = ["error_type", "network_transport", "server_address", "tls_protocol_version"],
        ["kestrel_upgraded_connections"] = ["network_transport", "network_type", "server_address", "server_port"],
    };
}
