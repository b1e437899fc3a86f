using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;

namespace McpTunnel.Demo;

/// <summary>
/// The demo's upstream: a real MCP server (the C# MCP SDK's Streamable HTTP transport) on loopback with one
/// tool, <c>hello</c>. Tools are declared with explicit handlers, which keeps it Native AOT clean.
/// </summary>
internal sealed class SampleMcpServer : IAsyncDisposable
{
    private static readonly JsonElement HelloSchema = JsonDocument.Parse(
        """{"type":"object","properties":{"name":{"type":"string","description":"Who to greet"}}}""").RootElement.Clone();

    private readonly WebApplication _app;

    private SampleMcpServer(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = new("http://127.0.0.1/");

    public static async Task<SampleMcpServer> StartAsync(ILoggerProvider logs, CancellationToken cancellationToken, IPEndPoint? endpoint = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "mcp-tunnel-demo-server" });
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(endpoint ?? new IPEndPoint(IPAddress.Loopback, 0)));
        builder.Services
            .AddMcpServer(o => o.ServerInfo = new Implementation { Name = "mcp-tunnel-demo", Version = "1.0" })
            .WithHttpTransport(o => o.Stateless = false)
            .WithListToolsHandler((_, _) => ValueTask.FromResult(new ListToolsResult
            {
                Tools = [new Tool { Name = "hello", Description = "Says hello through the tunnel", InputSchema = HelloSchema }],
            }))
            .WithCallToolHandler((request, _) =>
            {
                if (request.Params?.Name != "hello")
                {
                    return ValueTask.FromResult(new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = $"unknown tool {request.Params?.Name}" }] });
                }

                var name = request.Params.Arguments is { } arguments && arguments.TryGetValue("name", out var value) && value.ValueKind == JsonValueKind.String
                    ? value.GetString()
                    : "world";
                return ValueTask.FromResult(new CallToolResult { Content = [new TextContentBlock { Text = $"Hello, {name}! (served by the demo MCP server behind mcp-tunnel)" }] });
            });

        var app = builder.Build();
        app.MapMcp("/mcp");
        var server = new SampleMcpServer(app);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Address = new Uri(address);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
