using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

/// <summary>
/// <c>mcp-tunnel-bench otlp-sink PORT</c>: a loopback OTLP/HTTP receiver for bench/telemetry.sh. It accepts
/// protobuf exports on <c>/v1/traces</c> and <c>/v1/metrics</c>, answers 200 with an empty export response (an empty
/// protobuf message), and counts what arrived; <c>GET /stats</c> prints the counts as one line of key=value
/// (spans by name too), so the script can show that export really happened during the run.
/// </summary>
internal static class OtlpSink
{
    public static async Task RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port);
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        long traceExports = 0, metricExports = 0, traceBytes = 0, metricBytes = 0, spans = 0;
        var names = new ConcurrentDictionary<string, long>();
        app.MapPost("/v1/traces", async context =>
        {
            var body = await ReadAsync(context.Request);
            Interlocked.Increment(ref traceExports);
            Interlocked.Add(ref traceBytes, body.Length);
            foreach (var name in SpanNames(body))
            {
                Interlocked.Increment(ref spans);
                names.AddOrUpdate(name, 1, (_, n) => n + 1);
            }

            Answer(context);
        });
        app.MapPost("/v1/metrics", async context =>
        {
            var body = await ReadAsync(context.Request);
            Interlocked.Increment(ref metricExports);
            Interlocked.Add(ref metricBytes, body.Length);
            Answer(context);
        });
        app.MapGet("/stats", () => string.Create(CultureInfo.InvariantCulture,
            $"trace_exports={Interlocked.Read(ref traceExports)} spans={Interlocked.Read(ref spans)} trace_bytes={Interlocked.Read(ref traceBytes)} metric_exports={Interlocked.Read(ref metricExports)} metric_bytes={Interlocked.Read(ref metricBytes)} span_names={string.Join(',', names.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key.Replace(' ', '_')}:{p.Value}"))}\n"));
        await app.RunAsync();
    }

    private static async Task<byte[]> ReadAsync(HttpRequest request)
    {
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static void Answer(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/x-protobuf";
        context.Response.ContentLength = 0;
    }

    /// <summary>
    /// The names of the spans in an ExportTraceServiceRequest: resource_spans (1) -> scope_spans (2) -> spans (2)
    /// -> name (5), every other field skipped by its wire type.
    /// </summary>
    private static IEnumerable<string> SpanNames(byte[] body)
    {
        foreach (var resource in Fields(body, 0, body.Length, 1))
        {
            foreach (var scope in Fields(body, resource.Start, resource.End, 2))
            {
                foreach (var span in Fields(body, scope.Start, scope.End, 2))
                {
                    var name = Fields(body, span.Start, span.End, 5).Select(f => System.Text.Encoding.UTF8.GetString(body, f.Start, f.End - f.Start)).FirstOrDefault();
                    yield return name ?? "?";
                }
            }
        }
    }

    /// <summary>The length-delimited fields numbered <paramref name="wanted"/> between start and end.</summary>
    private static List<(int Start, int End)> Fields(byte[] data, int start, int end, int wanted)
    {
        var found = new List<(int, int)>();
        var at = start;
        while (at < end)
        {
            var key = Varint(data, ref at);
            var field = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    Varint(data, ref at);
                    break;
                case 1:
                    at += 8;
                    break;
                case 5:
                    at += 4;
                    break;
                case 2:
                    var length = (int)Varint(data, ref at);
                    if (field == wanted)
                    {
                        found.Add((at, at + length));
                    }

                    at += length;
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {key & 7} at byte {at}");
            }
        }

        return found;
    }

    private static ulong Varint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
