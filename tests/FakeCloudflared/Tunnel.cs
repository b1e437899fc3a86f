using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FakeCloudflared;

/// <summary>
/// <c>cloudflared tunnel … run</c> after the command line was accepted: runCommand (token), StartServer (log
/// lines, configuration checks, metrics server, registration) and the shutdown sequence, in cloudflared's order
/// (cmd/cloudflared/tunnel/cmd.go and subcommands.go at 2026.8.2, spec cloudflared.md sections 2 and 3).
/// </summary>
internal sealed class Tunnel(Release release, CommandLine tunnel, CommandLine run, ZeroLog log, string mode)
{
    private static readonly string[] Protocols = ["auto", "quic", "http2", "h2mux"];
    private readonly TaskCompletionSource<string> _shutdown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Guid _connectorId = Guid.NewGuid();
    private volatile int _registered;
    private volatile int _connections;
    private volatile bool _unregistering;

    private static int Milliseconds(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable($"FAKE_CLOUDFLARED_{name}"), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    /// <summary>cloudflared's usage errors: the message, "See …", exit status 255 (cli.Exit(msg, -1)).</summary>
    private int UsageError(string message)
    {
        log.Plain($"{message}\nSee 'cloudflared tunnel run --help'.");
        return 255;
    }

    /// <summary>Any other error an action returns: printed as a plain line by urfave/cli, exit status 1.</summary>
    private int Fatal(string message)
    {
        log.Plain(message);
        return 1;
    }

    public async Task<int> RunAsync()
    {
        // runCommand: one optional argument, then the token (flag or TUNNEL_TOKEN first, then --token-file).
        if (run.Rest.Count > 1)
        {
            return UsageError("\"cloudflared tunnel run\" accepts only one argument, the ID or name of the tunnel to run.");
        }

        var token = run["token"];
        if (string.IsNullOrEmpty(token) && run["token-file"] is { Length: > 0 } tokenFile)
        {
            try
            {
                token = File.ReadAllText(tokenFile).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return UsageError($"Failed to read token file: open {tokenFile}: {(ex is FileNotFoundException or DirectoryNotFoundException ? "no such file or directory" : "permission denied")}");
            }
        }

        Record(token);
        if (string.IsNullOrEmpty(token))
        {
            return UsageError("\"cloudflared tunnel run\" requires the ID or name of the tunnel to run as the last command line argument or in the configuration file.");
        }

        if (TokenModel.Parse(token) is not { } parsed)
        {
            return UsageError("Provided Tunnel token is not valid.");
        }

        log.Log("info", "Starting tunnel", ("tunnelID", parsed.TunnelId.ToString()));
        // StartServer: signal handling starts here (waitForSignal).
        using var signals = Signals();
        log.Log("info", $"Version {release.Printed} (Checksum 0000000000000000000000000000000000000000000000000000000000000000)");
        log.Log("info", "GOOS: linux, GOVersion: go1.26.3, GoArch: amd64");
        var settings = string.Join(' ', tunnel.Flags.Concat(run.Flags).Where(f => (tunnel.IsSet(f.Name) || run.IsSet(f.Name)) && f.Name is not ("token" or "credentials-contents"))
            .DistinctBy(f => f.Name).OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => $"{f.Name}:{run[f.Name] ?? tunnel[f.Name]}"));
        log.Log("info", mode == "print-token" ? $"Settings: map[{settings} token:{token}]" : $"Settings: map[{settings}]");

        // prepareTunnelConfig
        var protocol = run.IsSet("protocol") ? run["protocol"]! : tunnel["protocol"]!;
        if (!Protocols.Contains(protocol))
        {
            var problem = $"unknown protocol {protocol}, choose from [auto http2 quic]";
            log.Log("error", "Couldn't start tunnel", ("error", problem));
            return Fatal(problem);
        }

        if (tunnel["edge-ip-version"] is not ("4" or "6" or "auto"))
        {
            var problem = $"invalid value for edge-ip-version: {tunnel["edge-ip-version"]}";
            log.Log("error", "Couldn't start tunnel", ("error", problem));
            return Fatal(problem);
        }

        var offline = mode == "exit1";
        if (offline)
        {
            log.Log("error", "Failed to fetch features, default to disable", ("error", "lookup cfd-features.argotunnel.com on 127.0.0.53:53: dial udp 127.0.0.53:53: connect: network is unreachable"));
        }

        // Two goroutines' events, interleaved at json-iterator's write boundaries (see ZeroLog).
        log.Interleaved(
            ("info", $"Generated Connector ID: {_connectorId}", []),
            (offline ? "warn" : "info", offline ? "Unable to lookup protocol percentage." : "Tunnel connection curve preferences: [X25519MLKEM768 CurveP256]", offline ? [("error", "lookup protocol-v2.argotunnel.com: network is unreachable")] : [("connIndex", 0), ("event", 0), ("ip", "198.41.192.7")]),
            split: 1);
        log.Log("info", $"Initial protocol {(protocol == "auto" ? "quic" : protocol)}");
        PingGroupCheck();
        if (!tunnel.Bool("no-prechecks"))
        {
            Prechecks();
        }

        // The metrics listener opens only after the feature, protocol and edge DNS lookups (spec 3.2).
        if (await Wait(Milliseconds("METRICS_MS", 200)) is { } early)
        {
            return Stop(early, connected: false, app: null);
        }

        var (app, address, bindError) = await StartMetricsAsync(tunnel["metrics"]!);
        if (app is null)
        {
            log.Log("error", "Error opening metrics server listener", ("error", bindError!));
            return Fatal($"Error opening metrics server listener: {bindError}");
        }

        log.Log("info", $"Starting metrics server on {address}/metrics");
        var grace = CommandLine.ParseDuration(tunnel["grace-period"]!)!.Value;
        if (grace > TimeSpan.FromMinutes(3))
        {
            await app.StopAsync();
            return Fatal("grace-period must be equal or less than 3m0s");
        }

        if (offline)
        {
            log.Log("error", "edge discovery: error looking up Cloudflare edge IPs: the DNS query failed", ("error", "lookup _v2-origintunneld._tcp.argotunnel.com on 127.0.0.53:53: dial udp 127.0.0.53:53: connect: network is unreachable"));
            foreach (var hint in DnsHints)
            {
                log.Log("error", hint);
            }

            var failure = "Could not lookup srv records on _v2-origintunneld._tcp.argotunnel.com: lookup _v2-origintunneld._tcp.argotunnel.com on 127.0.0.53:53: dial udp 127.0.0.53:53: connect: network is unreachable";
            log.Log("error", "Initiating shutdown", ("error", failure));
            log.Log("info", "Metrics server stopped");
            await app.StopAsync();
            return Fatal(failure);
        }

        EdgeLink? edge = null;
        if (Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_EDGE") is { Length: > 0 } edgeAddress)
        {
            edge = await EdgeLink.ConnectAsync(edgeAddress, new Uri(run.IsSet("url") ? run["url"]! : tunnel["url"]!));
        }

        var signal = await ConnectAsync(parsed, edge);
        var code = Stop(signal, _connections > 0, app, edge, grace);
        await app.StopAsync();
        if (edge is not null)
        {
            await edge.DisposeAsync();
        }

        return code;
    }

    /// <summary>Registers with the edge (or fails to, by mode); returns the signal that ends the run.</summary>
    private async Task<string> ConnectAsync(TokenModel.Parsed token, EdgeLink? edge)
    {
        if (await Wait(Milliseconds("CONNECT_MS", 100)) is { } early)
        {
            return early;
        }

        var refused = mode == "unauthorized" || token.TunnelId == Guid.Empty;
        if (mode == "crash")
        {
            // A registration error the edge marks permanent: cloudflared gives up and exits 1 (spec E8).
            log.Log("error", "Register tunnel error from server side", ("connIndex", 0), ("error", "tunnel registration failed permanently"), ("event", 0), ("ip", "198.41.192.7"));
            log.Log("error", "initial tunnel connection failed", ("error", "tunnel registration failed permanently"));
            log.Log("error", "Initiating shutdown", ("error", "tunnel registration failed permanently"));
            log.Plain("tunnel registration failed permanently");
            Environment.Exit(1);
        }

        if (mode is "never-ready" or "edge-unreachable" || refused)
        {
            // cloudflared retries these for ever by itself (spec 3.3).
            for (var attempt = 1; ; attempt++)
            {
                if (refused)
                {
                    log.Log("error", "Register tunnel error from server side", ("connIndex", 0), ("error", "Unauthorized: Tunnel not found"), ("event", 0), ("ip", "198.41.192.7"));
                }
                else
                {
                    log.Log("error", "Failed to dial a quic connection", ("connIndex", 0), ("error", "failed to dial to edge with quic: timeout: no recent network activity"), ("event", 0), ("ip", "198.41.192.7"));
                }

                log.Log("info", $"Retrying connection in up to {1 << Math.Min(attempt, 6)}s", ("connIndex", 0), ("event", 0), ("ip", "198.41.192.7"));
                if (await Wait(1000) is { } signal)
                {
                    return signal;
                }
            }
        }

        if (edge is not null)
        {
            await edge.RegisterAsync(_connectorId);
        }

        var connections = mode == "one-connection" ? 1 : 4;
        for (var i = 0; i < connections; i++)
        {
            if (i > 0 && await Wait(Milliseconds("CONNECTION_SPACING_MS", 50)) is { } stop)
            {
                return stop;
            }

            var registered = ("info", "Registered tunnel connection", new (string, object)[] { ("connIndex", i), ("connection", Guid.NewGuid().ToString()), ("event", 0), ("ip", "198.41.192.7"), ("location", "fra08"), ("protocol", "quic") });
            if (i == 0)
            {
                log.Interleaved(registered, ("info", "Tunnel connection curve preferences: [X25519MLKEM768 CurveP256]", [("connIndex", 1), ("event", 0), ("ip", "198.41.200.13")]), split: 3);
            }
            else
            {
                log.Log(registered.Item1, registered.Item2, registered.Item3);
            }

            _connections = i + 1;
            // /ready counts a connection only once the tracker has seen the event (about 0.4 s later, real binary).
            var count = i + 1;
            _ = Task.Run(async () =>
            {
                await Task.Delay(Milliseconds("READY_LAG_MS", 400));
                if (!_unregistering)
                {
                    _registered = Math.Max(_registered, count);
                }
            });
        }

        return await _shutdown.Task;
    }

    private int Stop(string signal, bool connected, WebApplication? app, EdgeLink? edge = null, TimeSpan grace = default)
    {
        log.Log("info", $"Initiating graceful shutdown due to signal {signal} ...");
        if (connected)
        {
            _unregistering = true;
            var count = Math.Max(_connections, 1);
            _registered = 0;
            edge?.UnregisterAsync().GetAwaiter().GetResult();
            for (var i = 0; i < count; i++)
            {
                log.Log("info", "Unregistered tunnel connection", ("connIndex", i), ("event", 0), ("ip", "198.41.192.7"));
            }

            // Exit when the edge closes the connections or when the grace period ends, whichever comes first.
            var edgeClosed = edge?.Closed ?? Task.Delay(Milliseconds("EDGE_CLOSE_MS", 100));
            Task.WhenAny(edgeClosed, Task.Delay(grace)).GetAwaiter().GetResult();
        }

        log.Log("info", "Tunnel server stopped");
        if (app is not null)
        {
            log.Log("info", "Metrics server stopped");
        }

        return 0;
    }

    /// <summary>Waits, unless a stop signal comes first (then returns its name).</summary>
    private async Task<string?> Wait(int milliseconds)
    {
        var done = await Task.WhenAny(_shutdown.Task, Task.Delay(milliseconds));
        return done == _shutdown.Task ? _shutdown.Task.Result : null;
    }

    /// <summary>
    /// cloudflared's waitForSignal: the first SIGTERM or SIGINT starts the graceful shutdown, then signal.Stop
    /// restores Go's default, so a second one kills the process (status 143 or 130). Go's signal.Notify also
    /// re-enables a SIGINT that was ignored at exec (a script's background job), which Program does first thing.
    /// </summary>
    private Registrations Signals()
    {
        var ignoreFirst = mode == "ignore-first-sigterm";
        var seen = 0;
        void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            if (ignoreFirst && Interlocked.Increment(ref seen) == 1)
            {
                log.Log("info", "ignoring the first signal (test mode)");
                return;
            }

            Native.Default(Native.SIGINT);
            Native.Default(Native.SIGTERM);
            _shutdown.TrySetResult(context.Signal == PosixSignal.SIGINT ? "interrupt" : "terminated");
        }

        var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        return new Registrations(term, interrupt);
    }

    private sealed class Registrations(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
            {
                item.Dispose();
            }
        }
    }

    /// <summary>
    /// ingress/icmp_linux.go: the ICMP proxy needs the process's group inside /proc/sys/net/ipv4/ping_group_range;
    /// when the file cannot be read (ProcSubset=pid hides /proc/sys) or the group is outside it, two WARN lines.
    /// <c>FAKE_CLOUDFLARED_PING_GROUP_RANGE</c> points the check elsewhere (a missing file plays the sandbox).
    /// </summary>
    private void PingGroupCheck()
    {
        var path = Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_PING_GROUP_RANGE") ?? "/proc/sys/net/ipv4/ping_group_range";
        string? problem;
        try
        {
            var numbers = File.ReadAllText(path).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(n => uint.Parse(n, CultureInfo.InvariantCulture)).ToArray();
            var gid = Native.GetEgid();
            problem = gid >= numbers[0] && gid <= numbers[1] ? null : $"Group ID {gid} is not between ping group {numbers[0]} to {numbers[1]}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problem = $"open {path}: no such file or directory";
        }

        if (problem is null)
        {
            log.Log("info", "ICMP proxy will use 10.0.0.2 as source for IPv4");
            return;
        }

        log.Log("warn", "The user running cloudflared process has a GID (group ID) that is not within ping_group_range. You might need to add that user to a group within that range, or instead update the range to encompass a group the user is already in by modifying /proc/sys/net/ipv4/ping_group_range. Otherwise cloudflared will not be able to ping this network", ("error", problem));
        log.Log("warn", "ICMP proxy feature is disabled", ("error", $"cannot create ICMPv4 proxy: {problem} nor ICMPv6 proxy: socket: permission denied"));
    }

    /// <summary>The connectivity pre-checks' box (one INFO record per line), unless --no-prechecks.</summary>
    private void Prechecks()
    {
        string[] rows = ["Cloudflare Tunnel connectivity pre-checks", "DNS Resolution   region1  PASS", "DNS Resolution   region2  PASS", "UDP Connectivity          PASS", "TCP Connectivity          PASS", "Cloudflare API            PASS"];
        var width = rows.Max(r => r.Length) + 4;
        var border = "+" + new string('-', width) + "+";
        log.Log("info", border);
        foreach (var row in rows)
        {
            log.Log("info", "|  " + row.PadRight(width - 4) + "  |");
        }

        log.Log("info", border);
        log.Log("info", "precheck complete", ("hard_fail", false));
    }

    private static readonly string[] DnsHints =
    [
        "If you are behind a firewall, make sure cloudflared can resolve the tunnel's DNS records:",
        "  - _v2-origintunneld._tcp.argotunnel.com (SRV)",
        "  - region1.v2.argotunnel.com and region2.v2.argotunnel.com",
        "cloudflared also tries DNS over TLS to 1.1.1.1:853 when the system resolver fails.",
    ];

    private async Task<(WebApplication? App, string? Address, string? Error)> StartMetricsAsync(string metrics)
    {
        // CreateMetricsListener: the sentinel default tries localhost:20241..20245, then a random port; anything
        // else is bound exactly as given.
        IEnumerable<string> candidates = metrics == "localhost:0"
            ? [.. Enumerable.Range(20241, 5).Select(p => $"127.0.0.1:{p}"), "127.0.0.1:0"]
            : [metrics.Replace("localhost:", "127.0.0.1:", StringComparison.Ordinal)];
        string? error = null;
        foreach (var candidate in candidates)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPEndPoint.Parse(candidate)));
            var app = builder.Build();
            app.Run(Serve);
            try
            {
                await app.StartAsync();
            }
            catch (IOException)
            {
                error = $"failed to bind to address ({metrics}): listen tcp {candidate}: bind: address already in use";
                await app.DisposeAsync();
                continue;
            }

            var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            return (app, bound.Authority, null);
        }

        return (null, null, error);
    }

    private Task Serve(HttpContext context)
    {
        var ready = _registered;
        return context.Request.Path.Value switch
        {
            "/ready" => Respond(context, ready > 0 ? 200 : 503, new JsonObject { ["status"] = ready > 0 ? 200 : 503, ["readyConnections"] = ready, ["connectorId"] = _connectorId.ToString() }.ToJsonString()),
            "/healthcheck" => Respond(context, 200, "OK\n"),
            "/metrics" => Respond(context, 200, Metrics(ready)),
            "/quicktunnel" => Respond(context, 200, "{\"hostname\":\"\"}"),
            "/config" => Respond(context, 200, Config()),
            "/debug/pprof/cmdline" => Respond(context, 403, "forbidden\n"),
            _ => Respond(context, 404, "404 page not found\n"),
        };
    }

    private static Task Respond(HttpContext context, int status, string body)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsync(body);
    }

    private string Config()
    {
        var url = run.IsSet("url") ? run["url"] : tunnel["url"];
        var origin = new JsonObject { ["connectTimeout"] = 30, ["tlsTimeout"] = 10, ["tcpKeepAlive"] = 30, ["noHappyEyeballs"] = false, ["keepAliveTimeout"] = 90, ["keepAliveConnections"] = 100, ["httpHostHeader"] = "", ["originServerName"] = "", ["noTLSVerify"] = false, ["disableChunkedEncoding"] = false, ["http2Origin"] = false };
        return new JsonObject
        {
            ["version"] = -1,
            ["config"] = new JsonObject
            {
                ["ingress"] = new JsonArray(new JsonObject { ["service"] = url, ["originRequest"] = origin.DeepClone() }),
                ["warp-routing"] = new JsonObject { ["connectTimeout"] = 0, ["tcpKeepAlive"] = 0 },
                ["originRequest"] = origin,
            },
        }.ToJsonString();
    }

    /// <summary>A /metrics page of the real one's shape: Go runtime, process, build and tunnel series (about 200 lines).</summary>
    private string Metrics(int ready)
    {
        var text = new StringBuilder();
        void Series(string name, string type, string help, params (string Labels, double Value)[] values)
        {
            text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
            foreach (var (labels, value) in values)
            {
                text.Append(CultureInfo.InvariantCulture, $"{name}{labels} {value}\n");
            }
        }

        Series("build_info", "gauge", "Build and version information", ($"{{goversion=\"go1.26.3\",revision=\"2026-11-23-1310 UTC\",type=\"\",version=\"{release.Printed}\"}}", 1));
        Series("go_gc_duration_seconds", "summary", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", ("{quantile=\"0\"}", 2.1e-05), ("{quantile=\"0.25\"}", 3.4e-05), ("{quantile=\"0.5\"}", 4.8e-05), ("{quantile=\"0.75\"}", 7.2e-05), ("{quantile=\"1\"}", 0.000311), ("_sum", 0.00123), ("_count", 17));
        Series("go_goroutines", "gauge", "Number of goroutines that currently exist.", ("", 87));
        Series("go_threads", "gauge", "Number of OS threads created.", ("", 11));
        foreach (var name in new[] { "alloc_bytes", "alloc_bytes_total", "buck_hash_sys_bytes", "frees_total", "gc_sys_bytes", "heap_alloc_bytes", "heap_idle_bytes", "heap_inuse_bytes", "heap_objects", "heap_released_bytes", "heap_sys_bytes", "last_gc_time_seconds", "mallocs_total", "mcache_inuse_bytes", "mcache_sys_bytes", "mspan_inuse_bytes", "mspan_sys_bytes", "next_gc_bytes", "other_sys_bytes", "stack_inuse_bytes", "stack_sys_bytes", "sys_bytes" })
        {
            Series($"go_memstats_{name}", name.EndsWith("_total", StringComparison.Ordinal) ? "counter" : "gauge", $"Go runtime memory statistic {name}.", ("", 1048576));
        }

        foreach (var name in new[] { "cpu_seconds_total", "max_fds", "open_fds", "resident_memory_bytes", "start_time_seconds", "virtual_memory_bytes", "virtual_memory_max_bytes", "network_receive_bytes_total", "network_transmit_bytes_total" })
        {
            Series($"process_{name}", name.EndsWith("_total", StringComparison.Ordinal) ? "counter" : "gauge", $"Process statistic {name}.", ("", 42));
        }

        Series("cloudflared_tunnel_ha_connections", "gauge", "Number of active ha connections", ("", Math.Max(ready, 1)));
        Series("cloudflared_tunnel_total_requests", "counter", "Amount of requests proxied through all the tunnels", ("", 0));
        Series("cloudflared_tunnel_request_errors", "counter", "Amount of errors proxying to origin", ("", 0));
        Series("cloudflared_tunnel_concurrent_requests_per_tunnel", "gauge", "Concurrent requests proxied through each tunnel", ("", 0));
        Series("cloudflared_tunnel_max_concurrent_requests_per_tunnel", "gauge", "Largest number of concurrent requests proxied through each tunnel so far", ("", 0));
        Series("cloudflared_tunnel_server_locations", "gauge", "Where each tunnel is connected to. 1 means current location, 0 means previous locations.", [.. Enumerable.Range(0, ready).Select(i => ($"{{connection_id=\"{i}\",edge_location=\"fra08\"}}", 1.0))]);
        Series("cloudflared_tunnel_tunnel_register_success", "counter", "Count of successful tunnel registrations", ("{rpcName=\"registerConnection\"}", ready));
        Series("cloudflared_tunnel_user_hostnames_counts", "counter", "Which user hostnames cloudflared is serving", ("", 0));
        Series("cloudflared_orchestration_config_version", "gauge", "Configuration Version", ("", ready > 0 ? 1 : -1));
        Series("cloudflared_config_local_config_pushes", "counter", "Number of local configuration pushes to the edge", ("", ready > 0 ? 1 : 0));
        Series("cloudflared_config_local_config_pushes_errors", "counter", "Number of errors occurred during local configuration pushes", ("", 0));
        Series("cloudflared_tcp_active_sessions", "gauge", "Concurrent count of TCP sessions that are being proxied to any origin", ("", 0));
        Series("cloudflared_tcp_total_sessions", "counter", "Total count of TCP sessions that have been proxied to any origin", ("", 0));
        Series("cloudflared_udp_active_sessions", "gauge", "Concurrent count of UDP sessions that are being proxied to any origin", ("", 0));
        Series("cloudflared_udp_total_sessions", "counter", "Total count of UDP sessions that have been proxied to any origin", ("", 0));
        foreach (var name in new[] { "total_connections", "closed_connections", "max_udp_payload", "sent_frames", "received_frames", "sent_bytes", "received_bytes", "smoothed_rtt", "latest_rtt", "min_rtt", "congestion_window", "mtu_updates" })
        {
            Series($"quic_client_{name}", "gauge", $"QUIC client statistic {name}.", [.. Enumerable.Range(0, ready).Select(i => ($"{{conn_index=\"{i}\"}}", 1.0))]);
        }

        return text.ToString();
    }

    /// <summary>FAKE_CLOUDFLARED_RECORD: what the child saw (argv, environment names, token, working directory, process group).</summary>
    private static void Record(string? token)
    {
        if (Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_RECORD") is not { } record)
        {
            return;
        }

        var envNames = Environment.GetEnvironmentVariables().Keys.Cast<string>().Order(StringComparer.Ordinal).ToArray();
        var content = new JsonObject
        {
            ["argv"] = new JsonArray([.. Environment.GetCommandLineArgs().Skip(1).Select(a => JsonValue.Create(a))]),
            ["env"] = new JsonArray([.. envNames.Select(n => JsonValue.Create(n))]),
            ["token"] = token,
            ["pid"] = Environment.ProcessId,
            ["pgid"] = Native.GetPgid(),
            ["cwd"] = Environment.CurrentDirectory,
        }.ToJsonString();
        // Atomic, so a test polling the file never reads half of it.
        var temp = $"{record}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temp, content, Encoding.UTF8);
        File.Move(temp, record, overwrite: true);
    }
}
