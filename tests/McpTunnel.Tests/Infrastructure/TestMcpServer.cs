using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A real MCP server (the C# MCP SDK, Streamable HTTP, stateful sessions) on loopback, with tools that
/// exercise the gateway: <c>hello</c>; <c>big</c> returns a result of the requested size;
/// <c>gated</c> sends a progress notification and then waits until the test opens its gate, so a test can
/// prove the notification crossed the gateway before the result existed; <c>wait</c> waits until the call
/// is cancelled and records that.
/// </summary>
public sealed class TestMcpServer : IAsyncDisposable
{
    private static readonly JsonElement AnyObject = JsonDocument.Parse("""{"type":"object"}""").RootElement.Clone();
    private readonly WebApplication _app;

    private TestMcpServer(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public ConcurrentDictionary<string, TaskCompletionSource> Gates { get; } = new();

    public ConcurrentDictionary<string, TaskCompletionSource> Cancelled { get; } = new();

    public TaskCompletionSource Gate(string key) => Gates.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public TaskCompletionSource CancelledSignal(string key) => Cancelled.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public static string BigText(int size)
    {
        var text = new StringBuilder(size);
        for (var i = 0; text.Length < size; i++)
        {
            text.Append((char)('a' + (i % 26)));
        }

        return text.ToString();
    }

    public static async Task<TestMcpServer> StartAsync()
    {
        var builder = LoopbackApp.CreateBuilder();
        TestMcpServer? server = null;
        builder.Services
            .AddMcpServer(o => o.ServerInfo = new Implementation { Name = "test-mcp", Version = "1.0" })
            .WithHttpTransport(o => o.Stateless = false)
            .WithListToolsHandler((_, _) => ValueTask.FromResult(new ListToolsResult
            {
                Tools =
                [
                    new Tool { Name = "hello", InputSchema = AnyObject },
                    new Tool { Name = "big", InputSchema = AnyObject },
                    new Tool { Name = "gated", InputSchema = AnyObject },
                    new Tool { Name = "wait", InputSchema = AnyObject },
                ],
            }))
            .WithCallToolHandler(async (request, cancellationToken) =>
            {
                var args = request.Params!.Arguments ?? new Dictionary<string, JsonElement>();
                string Arg(string name, string fallback) => args.TryGetValue(name, out var v) ? v.ToString() : fallback;
                switch (request.Params.Name)
                {
                    case "hello":
                        return Text($"Hello, {Arg("name", "world")}!");
                    case "big":
                        return Text(BigText(int.Parse(Arg("size", "1000"), System.Globalization.CultureInfo.InvariantCulture)));
                    case "gated":
                        var key = Arg("gate", "default");
                        if (request.Params.ProgressToken is { } token)
                        {
                            await request.Server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = 1, Total = 2, Message = "before gate" }, cancellationToken: cancellationToken);
                        }

                        await server!.Gate(key).Task.WaitAsync(cancellationToken);
                        return Text("after gate");
                    case "wait":
                        try
                        {
                            await Task.Delay(Timeout.Infinite, cancellationToken);
                        }
                        catch (OperationCanceledException)
                        {
                            server!.CancelledSignal(Arg("key", "default")).TrySetResult();
                            throw;
                        }

                        return Text("unreachable");
                    default:
                        return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = "unknown tool" }] };
                }
            });

        var app = builder.Build();
        app.MapMcp("/mcp");
        server = new TestMcpServer(app);
        await app.StartAsync();
        server.Port = LoopbackApp.Port(app);
        return server;
    }

    private static CallToolResult Text(string text) => new() { Content = [new TextContentBlock { Text = text }] };

    public async ValueTask DisposeAsync()
    {
        foreach (var gate in Gates.Values)
        {
            gate.TrySetResult();
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
