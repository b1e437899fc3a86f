using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using McpTunnel.Operations;

/// <summary>
/// The soak's client: a mixed load through the tunnel for a fixed time, counted per request on the client side,
/// with the server's RSS sampled from /proc. Writes <c>rss.csv</c>, <c>progress.log</c> and <c>load.md</c> to the
/// output directory and prints one <c>key=value</c> line.
/// <remarks>
/// Every request is counted once when it is sent and once when it ends, as exactly one of:
/// 1. ok: status 200 and the whole, correct body;
/// 2. error: an answer came (a status line) but it was not 200, or its body was cut short or wrong;
/// 3. lost: no answer at all (the connection failed or closed before a status line, or a timeout);
/// 4. in flight at the end: still running after the drain wait, counted as lost.
/// </remarks>
/// </summary>
internal sealed class SoakLoad(string target, string host, X509Certificate2Collection? cas, TimeSpan duration, int pid, string outDir, int rssEverySeconds)
{
    private static readonly byte[] ToolsCall = Encoding.UTF8.GetBytes("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"" + new string('a', 900) + "\"}}}");
    private const int SseEvents = 10;
    private const int LargeMb = 4;

    private readonly ConcurrentDictionary<string, Counters> _kinds = new();
    private readonly ConcurrentDictionary<string, int> _failures = new();
    private readonly Stopwatch _clock = new();
    private long _inFlight;
    private volatile bool _stopping;

    private sealed class Counters
    {
        public long Sent;
        public long Ok;
        public long Error;
        public long Lost;
    }

    private sealed class AnsweredException(string message) : Exception(message);

    public async Task<int> RunAsync()
    {
        Directory.CreateDirectory(outDir);
        var edge = new EdgeConnectOptions { Gateway = new Uri($"ws://{target}/"), TrustedCas = cas };
        using var shared = new HttpClient(EdgeClient.CreateHandler(edge)) { Timeout = TimeSpan.FromSeconds(60) };
        _clock.Start();
        using var rssStop = new CancellationTokenSource();
        var sampler = SampleAsync(rssStop.Token);

        var workers = new List<Task>();
        // Small tools/call requests on pooled keep-alive connections (about 4 x 50 per second at most).
        for (var i = 0; i < 4; i++)
        {
            workers.Add(Loop("small", TimeSpan.FromMilliseconds(20), () => Small(shared)));
        }

        // SSE streams: 10 events 100 ms apart, back to back.
        for (var i = 0; i < 2; i++)
        {
            workers.Add(Loop("sse", TimeSpan.Zero, () => Sse(shared)));
        }

        // Large results: 4 MB, one every 2 s.
        workers.Add(Loop("large", TimeSpan.FromSeconds(2), () => Large(shared)));

        // Connection churn: a new WebSocket + inner TLS per request, 2 x 5 per second.
        for (var i = 0; i < 2; i++)
        {
            workers.Add(Loop("churn", TimeSpan.FromMilliseconds(200), async () =>
            {
                using var client = new HttpClient(EdgeClient.CreateHandler(edge)) { Timeout = TimeSpan.FromSeconds(60) };
                await Small(client);
            }));
        }

        await Task.Delay(duration);
        _stopping = true;
        var all = Task.WhenAll(workers);
        var drained = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(90))) == all;
        var stillInFlight = Interlocked.Read(ref _inFlight);
        await rssStop.CancelAsync();
        var samples = await sampler;
        WriteReport(samples, stillInFlight, drained);
        var total = _kinds.Values.Aggregate((Sent: 0L, Ok: 0L, Error: 0L, Lost: 0L), (a, c) => (a.Sent + c.Sent, a.Ok + c.Ok, a.Error + c.Error, a.Lost + c.Lost));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mode=soak seconds={_clock.Elapsed.TotalSeconds:0} sent={total.Sent} ok={total.Ok} errors={total.Error} lost={total.Lost + stillInFlight} in_flight_at_end={stillInFlight} rss_first_kb={samples.FirstOrDefault().Rss} rss_last_kb={samples.LastOrDefault().Rss} rss_max_kb={(samples.Count == 0 ? 0 : samples.Max(s => s.Rss))}"));
        return total.Error + total.Lost + stillInFlight == 0 ? 0 : 1;
    }

    private async Task Loop(string kind, TimeSpan pause, Func<Task> one)
    {
        var counters = _kinds.GetOrAdd(kind, _ => new Counters());
        while (!_stopping)
        {
            Interlocked.Increment(ref counters.Sent);
            Interlocked.Increment(ref _inFlight);
            try
            {
                await one();
                Interlocked.Increment(ref counters.Ok);
            }
            catch (AnsweredException ex)
            {
                Interlocked.Increment(ref counters.Error);
                _failures.AddOrUpdate($"{kind} error: {ex.Message}", 1, (_, n) => n + 1);
            }
            catch (Exception ex)
            {
                Interlocked.Increment(ref counters.Lost);
                _failures.AddOrUpdate($"{kind} lost: {Describe(ex)}", 1, (_, n) => n + 1);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }

            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
        }
    }

    private static string Describe(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null && parts.Count < 3; e = e.InnerException)
        {
            parts.Add($"{e.GetType().Name}: {e.Message}");
        }

        return string.Join(" <- ", parts);
    }

    private async Task Small(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://{host}/mcp") { Content = new ByteArrayContent(ToolsCall) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await ReadAnsweredAsync(response);
        if (body.Length < 900 || body[0] != (byte)'{' || body[^1] != (byte)'}')
        {
            throw new AnsweredException($"small body of {body.Length} bytes");
        }
    }

    private async Task Sse(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri($"https://{host}/sse?events={SseEvents}&ms=100"), HttpCompletionOption.ResponseHeadersRead);
        var body = Encoding.UTF8.GetString(await ReadAnsweredAsync(response));
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Length;
        if (events != SseEvents || !body.Contains($"data: {SseEvents - 1}\n", StringComparison.Ordinal))
        {
            throw new AnsweredException($"sse stream with {events} events");
        }
    }

    private async Task Large(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri($"https://{host}/large?mb={LargeMb}"), HttpCompletionOption.ResponseHeadersRead);
        var body = await ReadAnsweredAsync(response);
        if (body.Length != LargeMb * 1024 * 1024)
        {
            throw new AnsweredException($"large body of {body.Length} bytes");
        }
    }

    /// <summary>Once a status line has arrived the request is answered: any failure from here on is an error.</summary>
    private static async Task<byte[]> ReadAnsweredAsync(HttpResponseMessage response)
    {
        if (response.StatusCode != System.Net.HttpStatusCode.OK)
        {
            throw new AnsweredException($"status {(int)response.StatusCode}");
        }

        try
        {
            return await response.Content.ReadAsByteArrayAsync();
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            throw new AnsweredException($"body cut: {Describe(ex)}");
        }
    }

    private async Task<List<(double Seconds, long Rss, int Fds, int Threads)>> SampleAsync(CancellationToken stop)
    {
        var samples = new List<(double, long, int, int)>();
        await using var csv = new StreamWriter(Path.Combine(outDir, "rss.csv"));
        await using var progress = new StreamWriter(Path.Combine(outDir, "progress.log"));
        await csv.WriteLineAsync("seconds,rss_kb,fds,threads");
        while (true)
        {
            var (rss, threads) = Status(pid);
            var fds = pid == 0 ? 0 : Directory.GetFiles($"/proc/{pid}/fd").Length;
            var sample = (Math.Round(_clock.Elapsed.TotalSeconds), rss, fds, threads);
            samples.Add(sample);
            await csv.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{sample.Item1},{rss},{fds},{threads}"));
            await csv.FlushAsync(stop);
            var counts = string.Join(" ", _kinds.OrderBy(k => k.Key).Select(k => $"{k.Key}={k.Value.Sent}/{k.Value.Ok}/{k.Value.Error}/{k.Value.Lost}"));
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"t={sample.Item1}s rss_kb={rss} fds={fds} threads={threads} in_flight={Interlocked.Read(ref _inFlight)} sent/ok/error/lost: {counts}"));
            await progress.FlushAsync(stop);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(rssEverySeconds), stop);
            }
            catch (OperationCanceledException)
            {
                return samples;
            }
        }
    }

    private static (long Rss, int Threads) Status(int pid)
    {
        if (pid == 0)
        {
            return (0, 0);
        }

        long rss = 0;
        var threads = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return (rss, threads);
    }

    private void WriteReport(List<(double Seconds, long Rss, int Fds, int Threads)> samples, long stillInFlight, bool drained)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Load: {duration.TotalSeconds:0} s, target ws://{target}/, host {host}; drained cleanly: {(drained ? "yes" : "no")}.");
        md.AppendLine();
        md.AppendLine("| kind | sent | ok | error (answered, not ok) | lost (no answer) |");
        md.AppendLine("|---|---|---|---|---|");
        foreach (var (kind, c) in _kinds.OrderBy(k => k.Key))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"| {kind} | {c.Sent} | {c.Ok} | {c.Error} | {c.Lost} |");
        }

        md.AppendLine(CultureInfo.InvariantCulture, $"| in flight at the end (lost) | | | | {stillInFlight} |");
        md.AppendLine();
        if (!_failures.IsEmpty)
        {
            md.AppendLine("Failures by cause:");
            md.AppendLine();
            foreach (var (cause, count) in _failures.OrderByDescending(f => f.Value).Take(20))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- {count} x {cause}");
            }

            md.AppendLine();
        }

        if (samples.Count > 0)
        {
            md.AppendLine("Server RSS over time (every sample is in rss.csv):");
            md.AppendLine();
            md.AppendLine("| time (s) | RSS (KB) | open fds | threads |");
            md.AppendLine("|---|---|---|---|");
            var step = Math.Max(1, samples.Count / 12);
            for (var i = 0; i < samples.Count; i += step)
            {
                var s = samples[i];
                md.AppendLine(CultureInfo.InvariantCulture, $"| {s.Seconds} | {s.Rss} | {s.Fds} | {s.Threads} |");
            }

            var last = samples[^1];
            md.AppendLine(CultureInfo.InvariantCulture, $"| {last.Seconds} (last) | {last.Rss} | {last.Fds} | {last.Threads} |");
            md.AppendLine();
            // Flat means the second half's RSS does not climb over the first half's: compare their medians and maxima.
            var half = samples.Count / 2;
            static long Median(IEnumerable<long> values) => values.Order().ElementAt(values.Count() / 2);
            var firstHalf = samples.Take(Math.Max(1, half)).Select(s => s.Rss).ToList();
            var secondHalf = samples.Skip(half).Select(s => s.Rss).ToList();
            md.AppendLine(CultureInfo.InvariantCulture, $"RSS min {samples.Min(s => s.Rss)} KB, max {samples.Max(s => s.Rss)} KB; median first half {Median(firstHalf)} KB, second half {Median(secondHalf)} KB; max first half {firstHalf.Max()} KB, second half {secondHalf.Max()} KB.");
        }

        File.WriteAllText(Path.Combine(outDir, "load.md"), md.ToString());
    }
}
