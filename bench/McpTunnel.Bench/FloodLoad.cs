using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using McpTunnel.Operations;

/// <summary>
/// A flood of idle connections against a running gateway (bench/flood.sh): TCP connections that never send a byte
/// and WebSockets that never start TLS, opened as fast as they go and then held. The gateway's CPU time, RSS and open
/// descriptors are read from /proc before, after opening, at the end of the hold and after closing, and a real
/// request (a new WebSocket, inner TLS, POST /mcp) is sent every second of the hold. Prints one key=value line.
/// </summary>
internal sealed class FloodLoad(string target, string host, X509Certificate2Collection? cas, int pid, int connections, int webSockets, TimeSpan hold)
{
    private sealed record Sample(double Cpu, long Rss, int Fds, double Seconds);

    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private Sample Take() => new(Cpu(pid), Rss(pid), Directory.GetFiles($"/proc/{pid}/fd").Length, _clock.Elapsed.TotalSeconds);

    public async Task<int> RunAsync()
    {
        var endpoint = IPEndPoint.Parse(target);
        var upgrade = Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        var sockets = new System.Collections.Concurrent.ConcurrentBag<Socket>();
        var failedOpens = 0;
        var before = Take();
        await Parallel.ForEachAsync(Enumerable.Range(0, connections + webSockets), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, ct) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endpoint, ct);
                if (i >= connections)
                {
                    await socket.SendAsync(upgrade, ct);
                }

                sockets.Add(socket);
            }
            catch (SocketException)
            {
                Interlocked.Increment(ref failedOpens);
                socket.Dispose();
            }
        });
        var opened = Take();

        // Hold, with a real request on a new WebSocket every second.
        var ok = 0;
        var failed = 0;
        var latencies = new List<double>();
        var holdEnd = _clock.Elapsed + hold;
        while (_clock.Elapsed < holdEnd)
        {
            var started = _clock.Elapsed;
            try
            {
                using var client = new HttpClient(EdgeClient.CreateHandler(new EdgeConnectOptions { Gateway = new Uri($"ws://{target}/"), TrustedCas = cas })) { Timeout = TimeSpan.FromSeconds(10) };
                using var request = new HttpRequestMessage(HttpMethod.Post, $"https://{host}/mcp") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
                using var response = await client.SendAsync(request);
                response.EnsureSuccessStatusCode();
                ok++;
                latencies.Add((_clock.Elapsed - started).TotalMilliseconds);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                failed++;
            }

            var rest = TimeSpan.FromSeconds(1) - (_clock.Elapsed - started);
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest);
            }
        }

        var held = Take();
        var closedByServer = sockets.Count(s => s.Poll(0, SelectMode.SelectRead) && (s.Available == 0 || IsEof(s)));
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        // Give the gateway a moment to notice the closes, then read where it is.
        for (var i = 0; i < 100 && Directory.GetFiles($"/proc/{pid}/fd").Length > before.Fds + 8; i++)
        {
            await Task.Delay(100);
        }

        await Task.Delay(2000);
        var after = Take();
        latencies.Sort();
        var holdSeconds = held.Seconds - opened.Seconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"connections={connections} websockets={webSockets} failed_opens={failedOpens} open_seconds={opened.Seconds - before.Seconds:0.00} open_cpu_s={opened.Cpu - before.Cpu:0.00} " +
            $"hold_seconds={holdSeconds:0.0} hold_cpu_s={held.Cpu - opened.Cpu:0.00} hold_cpu_share={(held.Cpu - opened.Cpu) / holdSeconds:0.000} " +
            $"closed_by_server={closedByServer} real_requests_ok={ok} real_requests_failed={failed} real_p50_ms={(latencies.Count == 0 ? 0 : latencies[latencies.Count / 2]):0.0} " +
            $"fds_before={before.Fds} fds_opened={opened.Fds} fds_held={held.Fds} fds_after={after.Fds} rss_kb_before={before.Rss} rss_kb_opened={opened.Rss} rss_kb_held={held.Rss} rss_kb_after={after.Rss}"));
        return 0;
    }

    private static bool IsEof(Socket socket)
    {
        try
        {
            // Drain what the server sent (a 101, a 408) to see whether EOF follows.
            var buffer = new byte[4096];
            while (socket.Available > 0)
            {
                if (socket.Receive(buffer) == 0)
                {
                    return true;
                }
            }

            return socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private static double Cpu(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static long Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
