using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A plain HTTP upstream that answers with what it received (method, raw target, headers), and a
/// <c>/sse</c> endpoint that writes one event, waits for the test's gate, then writes another.
/// </summary>
public sealed class EchoUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EchoUpstream(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public TaskCompletionSource SseGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a request to <c>/hang</c> sees its caller go away.</summary>
    public TaskCompletionSource HangAborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a request to <c>/hang</c> has arrived.</summary>
    public TaskCompletionSource HangStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<EchoUpstream> StartAsync()
    {
        var builder = LoopbackApp.CreateBuilder();
        var app = builder.Build();
        var upstream = new EchoUpstream(app);
        app.Run(async context =>
        {
            if (context.Request.Path == "/sse")
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync("event: first\ndata: one\n\n");
                await context.Response.Body.FlushAsync();
                await upstream.SseGate.Task.WaitAsync(context.RequestAborted);
                await context.Response.WriteAsync("event: second\ndata: two\n\n");
                return;
            }

            if (context.Request.Path == "/hang")
            {
                context.Response.ContentType = "text/event-stream";
                await context.Response.Body.FlushAsync();
                upstream.HangStarted.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    upstream.HangAborted.TrySetResult();
                }

                return;
            }

            if (context.Request.Path.StartsWithSegments("/status"))
            {
                context.Response.StatusCode = int.Parse(context.Request.Path.Value!.Split('/')[2], System.Globalization.CultureInfo.InvariantCulture);
                return;
            }

            var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()!.RawTarget;
            context.Response.ContentType = "application/json";
            var json = new Dictionary<string, object>
            {
                ["method"] = context.Request.Method,
                ["target"] = target,
                ["body"] = body,
                ["headers"] = headers,
            };
            await context.Response.WriteAsync(JsonSerializer.Serialize(json));
        });
        await app.StartAsync();
        upstream.Port = LoopbackApp.Port(app);
        return upstream;
    }

    public async ValueTask DisposeAsync()
    {
        SseGate.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
