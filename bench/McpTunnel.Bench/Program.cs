using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using McpTunnel.Operations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

// mcp-tunnel-bench upstream PORT
//   A minimal fast upstream: POST /mcp answers a ~1 KB JSON-RPC result; GET /large?mb=N streams N MB;
//   GET /sse?events=N&ms=M writes N server-sent events M ms apart.
// mcp-tunnel-bench load MODE TARGET --host H [--ca FILE] [--connections N] [--seconds S] [--large-mb M] [--pid PID]
//   MODE: direct (http://TARGET), nginx (https://TARGET), tunnel (ws://TARGET + inner TLS).
//   Prints one line of key=value results; --pid samples that process's CPU time from /proc.
// mcp-tunnel-bench handshakes MODE TARGET --host H --ca FILE --seconds S --pid PID
//   New TLS connection per iteration (tunnel: new WebSocket + inner TLS); reports full handshakes per CPU-second of PID.
// mcp-tunnel-bench soak TARGET --host H --ca FILE --seconds S --pid PID --out DIR [--rss-every N]
//   Mixed load (small tools/call, SSE streams, large results, connection churn) for S seconds, counted per request;
//   samples PID's RSS every N seconds (default 10). See SoakLoad and bench/soak.sh.
// mcp-tunnel-bench sessions TARGET --host H --ca FILE --count N[,M...] --pid PID [--large-mb M]
//   Opens idle tunnel sessions (WebSocket + inner TLS + one request) up to each count in turn and reports the RSS
//   of PID before and at each count (one run, so 1k and 10k figures are comparable). With --large-mb each session's
//   one request is a large result of M MB instead of a small JSON-RPC call. With --hold-until PATH the sessions stay
//   open after the report until PATH exists.
// mcp-tunnel-bench flood TARGET --host H --ca FILE --pid PID --connections N --websockets M --seconds S
//   N idle TCP connections and M idle WebSockets (no TLS), held for S seconds with a real request every second;
//   reports PID's CPU, RSS and descriptors. See FloodLoad and bench/flood.sh.
// mcp-tunnel-bench otlp-sink PORT
//   A loopback OTLP/HTTP (protobuf) receiver that answers 200 and counts exports; GET /stats. See bench/telemetry.sh.
var mode = args.ElementAtOrDefault(0) ?? "";
string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;

switch (mode)
{
    case "upstream":
        await RunUpstream(int.Parse(args[1], CultureInfo.InvariantCulture));
        return 0;
    case "load":
        return await Load(args[1], args[2]);
    case "handshakes":
        return await Handshakes(args[1], args[2]);
    case "sessions":
        return await Sessions(args[1]);
    case "soak":
        return await new SoakLoad(args[1], Option("--host", "echo.bench.tunnel.test"), Cas(), TimeSpan.FromSeconds(double.Parse(Option("--seconds", "1800"), CultureInfo.InvariantCulture)),
            int.Parse(Option("--pid", "0"), CultureInfo.InvariantCulture), Option("--out", "."), int.Parse(Option("--rss-every", "10"), CultureInfo.InvariantCulture)).RunAsync();
    case "flood":
        return await new FloodLoad(args[1], Option("--host", "echo.bench.tunnel.test"), Cas(), int.Parse(Option("--pid", "0"), CultureInfo.InvariantCulture),
            int.Parse(Option("--connections", "20000"), CultureInfo.InvariantCulture), int.Parse(Option("--websockets", "2000"), CultureInfo.InvariantCulture),
            TimeSpan.FromSeconds(double.Parse(Option("--seconds", "30"), CultureInfo.InvariantCulture))).RunAsync();
    case "otlp-sink":
        await OtlpSink.RunAsync(int.Parse(args[1], CultureInfo.InvariantCulture));
        return 0;
    default:
        Console.Error.WriteLine("usage: mcp-tunnel-bench upstream PORT | load MODE TARGET ... | handshakes MODE TARGET ... | sessions TARGET ... | soak TARGET ... | flood TARGET ...");
        return 2;
}

static async Task RunUpstream(int port)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(k =>
    {
        k.Listen(IPAddress.Loopback, port);
        k.AddServerHeader = false;
    });
    var app = builder.Build();
    var result = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"" + new string('x', 900) + "\"}]}}");
    var chunk = new byte[64 * 1024];
    Array.Fill(chunk, (byte)'y');
    app.Run(async context =>
    {
        if (context.Request.Method == "POST")
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = result.Length;
            await context.Response.Body.WriteAsync(result);
            return;
        }

        if (context.Request.Path == "/sse")
        {
            var events = int.Parse(context.Request.Query["events"].FirstOrDefault() ?? "10", CultureInfo.InvariantCulture);
            var gap = int.Parse(context.Request.Query["ms"].FirstOrDefault() ?? "100", CultureInfo.InvariantCulture);
            context.Response.ContentType = "text/event-stream";
            for (var i = 0; i < events; i++)
            {
                await context.Response.WriteAsync($"event: message\ndata: {i}\n\n");
                await context.Response.Body.FlushAsync();
                await Task.Delay(gap);
            }

            return;
        }

        var megabytes = int.Parse(context.Request.Query["mb"].FirstOrDefault() ?? "4", CultureInfo.InvariantCulture);
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = (long)megabytes * 1024 * 1024;
        for (var sent = 0L; sent < context.Response.ContentLength; sent += chunk.Length)
        {
            await context.Response.Body.WriteAsync(chunk);
        }
    });
    await app.RunAsync();
}

HttpClient Client(string clientMode, string target, X509Certificate2Collection? cas, int connections)
{
    HttpMessageHandler handler = clientMode switch
    {
        "tunnel" => EdgeClient.CreateHandler(new EdgeConnectOptions { Gateway = new Uri($"ws://{target}/"), TrustedCas = cas }),
        _ => new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = connections,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, c, _, e) => CertificateVerifier.Verify(c as X509Certificate2, e, cas) is null,
            },
            ConnectCallback = async (context, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPEndPoint.Parse(target), ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        },
    };
    if (handler is SocketsHttpHandler sockets)
    {
        sockets.MaxConnectionsPerServer = connections;
    }

    return new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(2) };
}

X509Certificate2Collection? Cas()
{
    var file = Option("--ca", "");
    if (file.Length == 0)
    {
        return null;
    }

    var cas = new X509Certificate2Collection();
    cas.ImportFromPemFile(file);
    return cas;
}

async Task<int> Load(string loadMode, string target)
{
    var host = Option("--host", "echo.bench.tunnel.test");
    var connections = int.Parse(Option("--connections", "16"), CultureInfo.InvariantCulture);
    var seconds = double.Parse(Option("--seconds", "10"), CultureInfo.InvariantCulture);
    var largeMb = int.Parse(Option("--large-mb", "0"), CultureInfo.InvariantCulture);
    var pid = int.Parse(Option("--pid", "0"), CultureInfo.InvariantCulture);
    using var http = Client(loadMode, target, Cas(), connections);
    var scheme = loadMode == "direct" ? "http" : "https";
    var body = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + new string('a', 900) + "\"}}}");

    async Task<long> One()
    {
        if (largeMb > 0)
        {
            using var response = await http.GetAsync(new Uri($"{scheme}://{host}/large?mb={largeMb}"), HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            return total;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, $"{scheme}://{host}/mcp") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var reply = await http.SendAsync(request);
        reply.EnsureSuccessStatusCode();
        return (await reply.Content.ReadAsByteArrayAsync()).Length;
    }

    // Warm up every connection, then measure.
    await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => One()));
    var cpuBefore = Cpu(pid);
    var switchesBefore = ContextSwitches(pid);
    var latencies = new List<double>[connections];
    long bytes = 0;
    var errors = 0;
    var clock = Stopwatch.StartNew();
    var deadline = TimeSpan.FromSeconds(seconds);
    await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
    {
        latencies[i] = [];
        while (clock.Elapsed < deadline)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                Interlocked.Add(ref bytes, await One());
                latencies[i].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref errors);
            }
        }
    }));
    var elapsed = clock.Elapsed.TotalSeconds;
    var cpu = Cpu(pid) - cpuBefore;
    var switches = ContextSwitches(pid) - switchesBefore;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"mode={loadMode} requests={all.Length} errors={errors} seconds={elapsed:0.00} rps={all.Length / elapsed:0} p50_ms={P(0.50):0.000} p90_ms={P(0.90):0.000} p99_ms={P(0.99):0.000} p999_ms={P(0.999):0.000} mb_per_s={bytes / elapsed / 1e6:0.0} cpu_s={cpu:0.000} cpu_s_per_10k={(all.Length == 0 ? 0 : cpu / all.Length * 10000):0.000} cpu_s_per_gb={(bytes == 0 ? 0 : cpu / (bytes / 1e9)):0.000} ctx_switches_per_request={(all.Length == 0 ? 0 : switches / (double)all.Length):0.00}"));
    return errors == 0 ? 0 : 1;
}

async Task<int> Handshakes(string handshakeMode, string target)
{
    var host = Option("--host", "echo.bench.tunnel.test");
    var seconds = double.Parse(Option("--seconds", "5"), CultureInfo.InvariantCulture);
    var pid = int.Parse(Option("--pid", "0"), CultureInfo.InvariantCulture);
    var cas = Cas();
    // Full handshakes only: the edge client keeps sessions (AllowTlsResume defaults to true) and the gateway issues
    // tickets since it shares one TLS context per certificate (decision 0020). With TLS 1.3 the tickets arrive after
    // the handshake and this generator never reads, so it would not resume today; the switch keeps it that way for
    // TLS 1.2 or a client that reads. The runtime reads it at the first handshake of this process, below.
    AppContext.SetSwitch("System.Net.Security.DisableTlsResume", true);

    var cpuBefore = Cpu(pid);
    var clock = Stopwatch.StartNew();
    var count = 0;
    await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
    {
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            if (handshakeMode == "tunnel")
            {
                await using var connection = await EdgeClient.ConnectAsync(new EdgeConnectOptions { Gateway = new Uri($"ws://{target}/"), TrustedCas = cas, ApplicationProtocols = [SslApplicationProtocol.Http11] }, host, CancellationToken.None);
            }
            else
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync(IPEndPoint.Parse(target));
                await using var tls = new SslStream(tcp.GetStream());
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    AllowTlsResume = false,
                    RemoteCertificateValidationCallback = (_, c, _, e) => CertificateVerifier.Verify(c as X509Certificate2, e, cas) is null,
                });
            }

            Interlocked.Increment(ref count);
        }
    }));
    var cpu = Cpu(pid) - cpuBefore;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mode={handshakeMode} handshakes={count} seconds={clock.Elapsed.TotalSeconds:0.00} server_cpu_s={cpu:0.000} handshakes_per_cpu_s={(cpu > 0 ? count / cpu : 0):0}"));
    return 0;
}

async Task<int> Sessions(string target)
{
    // --count takes checkpoints (e.g. 1000,10000): sessions are opened up to each one in turn and the server's
    // RSS is read there, so the per-session figures of all checkpoints come from one run and one process.
    var host = Option("--host", "echo.bench.tunnel.test");
    var checkpoints = Option("--count", "1000").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
    var largeMb = int.Parse(Option("--large-mb", "0"), CultureInfo.InvariantCulture);
    var pid = int.Parse(Option("--pid", "0"), CultureInfo.InvariantCulture);
    var cas = Cas();
    GC.Collect();
    await Task.Delay(1000);
    var before = Rss(pid);
    var splitBefore = Split(pid);
    var sessions = new System.Collections.Concurrent.ConcurrentBag<HttpClient>();
    var results = new List<string>();
    var opened = 0;
    var clock = Stopwatch.StartNew();
    foreach (var checkpoint in checkpoints)
    {
        // Eight at a time, so 10,000 open well inside the gateway's 5-minute keep-alive timeout. A failure (for
        // instance the descriptor limit of either process) ends the run with the count reached and the reason,
        // so the checkpoints before it still count.
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(opened, checkpoint - opened), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, ct) =>
            {
                var handler = EdgeClient.CreateHandler(new EdgeConnectOptions { Gateway = new Uri($"ws://{target}/"), TrustedCas = cas });
                handler.PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan;
                var client = new HttpClient(handler);
                using var request = largeMb > 0
                    ? new HttpRequestMessage(HttpMethod.Get, $"https://{host}/large?mb={largeMb}")
                    : new HttpRequestMessage(HttpMethod.Post, $"https://{host}/mcp") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
                using var response = await client.SendAsync(request, ct);
                response.EnsureSuccessStatusCode();
                await response.Content.CopyToAsync(Stream.Null, ct);
                sessions.Add(client);
            });
        }
        catch (Exception ex)
        {
            results.Add(string.Create(CultureInfo.InvariantCulture, $"failed_after={sessions.Count} failure=\"{ex.GetBaseException().Message.Replace(' ', '_')}\""));
            break;
        }

        opened = checkpoint;
        await Task.Delay(3000);
        var after = Rss(pid);
        var split = Split(pid);
        results.Add(string.Create(CultureInfo.InvariantCulture, $"brk_heap_kb_per_session_{checkpoint}={(split.Heap - splitBefore.Heap) / (double)checkpoint:0.0} other_anon_kb_per_session_{checkpoint}={(split.Anon - splitBefore.Anon) / (double)checkpoint:0.0} file_kb_per_session_{checkpoint}={(split.File - splitBefore.File) / (double)checkpoint:0.0}"));
        results.Add(string.Create(CultureInfo.InvariantCulture, $"sessions_{checkpoint}={checkpoint} rss_after_kb_{checkpoint}={after} kb_per_session_{checkpoint}={(after - before) / (double)checkpoint:0.0} opened_by_s_{checkpoint}={clock.Elapsed.TotalSeconds:0}"));
        if (checkpoint == checkpoints[^1])
        {
            results.Add(string.Create(CultureInfo.InvariantCulture, $"sessions={checkpoint} rss_after_kb={after} kb_per_session={(after - before) / (double)checkpoint:0.0}"));
        }
    }

    Console.WriteLine($"rss_before_kb={before} {string.Join(' ', results)}");
    // --hold-until PATH keeps the sessions open until PATH exists, so a heap census (bench/session-census.sh) can be
    // taken of the server while they are idle.
    var hold = Option("--hold-until", "");
    while (hold.Length > 0 && !File.Exists(hold))
    {
        await Task.Delay(100);
    }

    foreach (var client in sessions)
    {
        client.Dispose();
    }

    return 0;
}

static double Cpu(int pid)
{
    if (pid == 0)
    {
        return 0;
    }

    // /proc/PID/stat fields 14 and 15 (utime, stime) in clock ticks (100 Hz on Linux).
    var stat = File.ReadAllText($"/proc/{pid}/stat");
    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

// The server's resident memory split by kind (/proc/PID/smaps): the brk heap (glibc malloc's main arena, where
// OpenSSL's and the runtime's native allocations go when the server runs with MALLOC_ARENA_MAX=1), other anonymous
// memory (the GC heap, thread stacks, mmapped malloc blocks) and file-backed pages (the binary, libraries).
static (long Heap, long Anon, long File) Split(int pid)
{
    if (pid == 0)
    {
        return (0, 0, 0);
    }

    long heap = 0, anon = 0, file = 0;
    var kind = 0;
    foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
    {
        var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 5 && parts[0].Contains('-', StringComparison.Ordinal) && !parts[0].EndsWith(':'))
        {
            var name = parts.Length == 6 ? parts[5].Trim() : "";
            kind = name == "[heap]" ? 0 : name.StartsWith('/') ? 2 : 1;
        }
        else if (line.StartsWith("Rss:", StringComparison.Ordinal))
        {
            var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            switch (kind)
            {
                case 0: heap += kb; break;
                case 1: anon += kb; break;
                default: file += kb; break;
            }
        }
    }

    return (heap, anon, file);
}

// Voluntary + involuntary context switches of every thread of PID (/proc/PID/task/*/status). /proc/PID/status
// alone counts only the main thread; threads that exit during the run take their counts with them (the thread
// pool keeps its workers for the length of a run, so that is a small undercount).
static long ContextSwitches(int pid)
{
    if (pid == 0)
    {
        return 0;
    }

    long total = 0;
    foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(task, "status")))
            {
                if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                {
                    total += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
            // The thread exited between listing and reading.
        }
    }

    return total;
}

static long Rss(int pid)
{
    if (pid == 0)
    {
        return 0;
    }

    var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}
