using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A loopback OTLP/HTTP collector: accepts <c>POST /v1/traces</c> and <c>/v1/metrics</c> (protobuf), answers 200,
/// and decodes what arrives into spans and metric points the tests can wait for.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<Span> _spans = Channel.CreateUnbounded<Span>();
    private readonly List<Span> _seenSpans = [];
    private readonly List<Point> _points = [];
    private readonly SemaphoreSlim _pointsArrived = new(0);

    public sealed record Span(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, string Scope, IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource,
        IReadOnlyList<string> Events, int StatusCode);

    public sealed record Point(string Metric, string Unit, IReadOnlyDictionary<string, string> Attributes, double Value, ulong Count);

    private OtlpReceiver(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Content types seen, by path (the exporter's protocol).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, string> ContentTypes { get; } = new();

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = LoopbackApp.CreateBuilder();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.Run(async context =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            receiver.ContentTypes[context.Request.Path.Value ?? ""] = context.Request.ContentType ?? "";
            var message = Protobuf.Parse(buffer.ToArray());
            switch (context.Request.Path.Value)
            {
                case "/v1/traces":
                    receiver.Traces(message);
                    break;
                case "/v1/metrics":
                    receiver.Metrics(message);
                    break;
                default:
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
            }

            context.Response.ContentType = "application/x-protobuf";
        });
        await app.StartAsync();
        receiver.Port = LoopbackApp.Port(app);
        return receiver;
    }

    private void Traces(Protobuf request)
    {
        foreach (var resourceSpans in request.All(1).Select(f => f.Message))
        {
            var resource = resourceSpans.One(1)?.Message.Attributes(1) ?? [];
            foreach (var scopeSpans in resourceSpans.All(2).Select(f => f.Message))
            {
                var scope = scopeSpans.One(1)?.Message.One(1)?.Text ?? "";
                foreach (var span in scopeSpans.All(2).Select(f => f.Message))
                {
                    _spans.Writer.TryWrite(new Span(span.One(1)!.Hex, span.One(2)!.Hex, span.One(4)?.Hex ?? "", span.One(5)!.Text, (int)(span.One(6)?.Value ?? 0),
                        scope, span.Attributes(9), resource,
                        span.All(11).Select(e => e.Message.One(2)?.Text ?? "").ToList(), (int)(span.One(15)?.Message.One(3)?.Value ?? 0)));
                }
            }
        }
    }

    private void Metrics(Protobuf request)
    {
        var points = new List<Point>();
        foreach (var scopeMetrics in request.All(1).SelectMany(r => r.Message.All(2)).Select(f => f.Message))
        {
            foreach (var metric in scopeMetrics.All(2).Select(f => f.Message))
            {
                var name = metric.One(1)!.Text;
                var unit = metric.One(3)?.Text ?? "";
                if ((metric.One(5) ?? metric.One(7)) is { } numbers)
                {
                    foreach (var p in numbers.Message.All(1).Select(f => f.Message))
                    {
                        var value = p.One(4) is { } d ? d.AsDouble : (long)(p.One(6)?.Value ?? 0);
                        points.Add(new Point(name, unit, p.Attributes(7), value, 0));
                    }
                }
                else if (metric.One(9) is { } histogram)
                {
                    foreach (var p in histogram.Message.All(1).Select(f => f.Message))
                    {
                        points.Add(new Point(name, unit, p.Attributes(9), p.One(5)?.AsDouble ?? 0, p.One(4)?.Value ?? 0));
                    }
                }
            }
        }

        lock (_points)
        {
            _points.AddRange(points);
        }

        _pointsArrived.Release();
    }

    /// <summary>Waits until a span matching <paramref name="match"/> has arrived; returns it.</summary>
    public async Task<Span> WaitForSpanAsync(Func<Span, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        lock (_seenSpans)
        {
            if (_seenSpans.FirstOrDefault(match) is { } seen)
            {
                return seen;
            }
        }

        try
        {
            while (true)
            {
                var span = await _spans.Reader.ReadAsync(cts.Token);
                lock (_seenSpans)
                {
                    _seenSpans.Add(span);
                }

                if (match(span))
                {
                    return span;
                }
            }
        }
        catch (OperationCanceledException)
        {
            lock (_seenSpans)
            {
                throw new TimeoutException("no such span; received: " + string.Join(", ", _seenSpans.Select(s => $"{s.Scope}:{s.Name}")));
            }
        }
    }

    /// <summary>All spans received so far (after a wait).</summary>
    public IReadOnlyList<Span> Spans
    {
        get
        {
            lock (_seenSpans)
            {
                while (_spans.Reader.TryRead(out var span))
                {
                    _seenSpans.Add(span);
                }

                return _seenSpans.ToList();
            }
        }
    }

    /// <summary>Waits until an export carried a point matching <paramref name="match"/>; returns it (the latest such).</summary>
    public async Task<Point> WaitForPointAsync(Func<Point, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            lock (_points)
            {
                if (_points.LastOrDefault(match) is { } point)
                {
                    return point;
                }
            }

            try
            {
                await _pointsArrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                lock (_points)
                {
                    throw new TimeoutException("no such metric point; metrics received: " + string.Join(", ", _points.Select(p => p.Metric).Distinct()));
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _pointsArrived.Dispose();
    }
}
