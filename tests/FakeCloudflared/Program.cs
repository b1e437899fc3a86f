using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

// Behaviour knobs (environment): FAKE_CLOUDFLARED_MODE = normal | exit1 | crash | ignore-first-sigterm |
// never-ready | print-token; FAKE_CLOUDFLARED_RECORD = a file to write argv, env names and the token seen;
// FAKE_CLOUDFLARED_CONNECT_MS (default 100); FAKE_CLOUDFLARED_EDGE_CLOSE_MS (default 100).
var mode = Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_MODE") ?? "normal";
var tunnelFlags = new HashSet<string> { "--no-autoupdate", "--no-prechecks", "--config", "--metrics", "--loglevel", "--transport-loglevel", "--output", "--grace-period", "--label", "--protocol", "--edge-ip-version", "--management-diagnostics", "--retries" };
var runFlags = new HashSet<string> { "--token", "--token-file", "--url", "--protocol" };
var withValue = new HashSet<string> { "--config", "--metrics", "--loglevel", "--transport-loglevel", "--output", "--grace-period", "--label", "--protocol", "--edge-ip-version", "--retries", "--token", "--token-file", "--url" };
var values = new Dictionary<string, string>();

string Usage() => "NAME:\n   cloudflared tunnel run - Proxy a local web server by running the given tunnel\n\nOPTIONS:\n   --token value  The Tunnel token. (default: \"" + (Environment.GetEnvironmentVariable("TUNNEL_TOKEN") ?? "") + "\") [$TUNNEL_TOKEN]\n";

int UsageExit()
{
    // cloudflared prints usage on stdout and exits 0 for a misplaced flag (spec 1.2), token included.
    Console.Out.Write("Incorrect Usage: flag provided but not defined\n\n" + Usage());
    return 0;
}

if (args is ["--version"] or ["-v"] or ["version"])
{
    // Unmistakable wherever a version is shown (packages built with it say so too).
    Console.Out.WriteLine("cloudflared version 0.0.0-STANDIN (NOT cloudflared: the mcp-tunnel test stand-in from tests/FakeCloudflared; never ship it)");
    return 0;
}

if (args.Length < 2 || args[0] != "tunnel")
{
    return UsageExit();
}

var level = "tunnel";
for (var i = 1; i < args.Length; i++)
{
    var arg = args[i];
    if (arg == "run" && level == "tunnel")
    {
        level = "run";
        continue;
    }

    var name = arg.Split('=')[0];
    var allowed = level == "tunnel" ? tunnelFlags : runFlags;
    if (!allowed.Contains(name))
    {
        return UsageExit();
    }

    var value = arg.Contains('=', StringComparison.Ordinal) ? arg[(arg.IndexOf('=', StringComparison.Ordinal) + 1)..] : withValue.Contains(name) && i + 1 < args.Length ? args[++i] : "true";
    values[name] = value;
}

if (level != "run")
{
    return UsageExit();
}

var json = values.GetValueOrDefault("--output") == "json";
void Log(string lvl, string message, params (string Key, object Value)[] fields)
{
    if (json)
    {
        var line = new JsonObject { ["level"] = lvl, ["time"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"), ["message"] = message };
        foreach (var (k, v) in fields)
        {
            line[k] = JsonValue.Create(v.ToString());
        }

        Console.Error.WriteLine(line.ToJsonString());
    }
    else
    {
        Console.Error.WriteLine($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {lvl.ToUpperInvariant()[..3]} {message} {string.Join(' ', fields.Select(f => $"{f.Key}={f.Value}"))}");
    }
}

string? token = null;
if (values.TryGetValue("--token-file", out var tokenFile))
{
    try
    {
        token = File.ReadAllText(tokenFile).Trim();
    }
    catch (Exception ex)
    {
        Console.Error.WriteLine($"Failed to read token file: {ex.Message}");
        return 255;
    }
}

token ??= values.GetValueOrDefault("--token") ?? Environment.GetEnvironmentVariable("TUNNEL_TOKEN");
if (Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_RECORD") is { } record)
{
    var envNames = Environment.GetEnvironmentVariables().Keys.Cast<string>().Order().ToArray();
    File.WriteAllText(record, new JsonObject
    {
        ["argv"] = new JsonArray([.. args.Select(a => JsonValue.Create(a))]),
        ["env"] = new JsonArray([.. envNames.Select(n => JsonValue.Create(n))]),
        ["token"] = token,
        ["pid"] = Environment.ProcessId,
    }.ToJsonString());
}

if (string.IsNullOrEmpty(token))
{
    Console.Error.WriteLine("\"cloudflared tunnel run\" requires the ID or name of the tunnel to run as the last command line argument or in the configuration file.");
    return 255;
}

try
{
    var decoded = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(token)));
    if (decoded?["t"] is null)
    {
        throw new FormatException();
    }
}
catch (Exception)
{
    Console.Error.WriteLine("Provided Tunnel token is not valid.");
    return 255;
}

Log("info", "Starting tunnel", ("tunnelID", "00000000-0000-0000-0000-000000000001"));
if (mode == "exit1")
{
    Log("error", "edge discovery: error looking up Cloudflare edge IPs: the DNS query failed");
    Console.Error.WriteLine("Could not lookup srv records on _v2-origintunneld._tcp.argotunnel.com");
    return 1;
}

if (mode == "exit0")
{
    // What cloudflared does after a flag it does not accept: usage (with the token) on stdout, exit 0.
    return UsageExit();
}

if (mode == "print-token")
{
    Log("info", $"Settings: map[token:{token} url:{values.GetValueOrDefault("--url")}]");
}

var metrics = values.GetValueOrDefault("--metrics", "127.0.0.1:0");
var ready = false;
var shutdown = new TaskCompletionSource();
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
var endpoint = IPEndPoint.Parse(metrics);
builder.WebHost.ConfigureKestrel(k => k.Listen(endpoint));
var app = builder.Build();
// Plain request handling (no minimal-API binding), so the stand-in publishes as Native AOT: the packaged unit's
// MemoryDenyWriteExecute forbids a JIT.
app.Run(c => c.Request.Path.Value switch
{
    "/ready" => Respond(c, ready ? 200 : 503, new JsonObject { ["status"] = ready ? 200 : 503, ["readyConnections"] = ready ? 4 : 0, ["connectorId"] = "fake" }.ToJsonString()),
    "/healthcheck" => Respond(c, 200, "OK\n"),
    "/metrics" => Respond(c, 200, "cloudflared_tunnel_ha_connections 1\ncloudflared_tunnel_total_requests 0\n"),
    _ => Respond(c, 404, "404 page not found\n"),
});

static Task Respond(HttpContext context, int status, string body)
{
    context.Response.StatusCode = status;
    return context.Response.WriteAsync(body);
}

try
{
    await app.StartAsync();
}
catch (IOException ex)
{
    Log("error", $"Error opening metrics server listener: {ex.Message} address already in use");
    return 1;
}

Log("info", $"Starting metrics server on {metrics}/metrics");

var terms = 0;
var ignoreUntil = mode == "ignore-first-sigterm" ? 1 : 0;
void OnTerm(PosixSignalContext context)
{
    context.Cancel = true;
    terms++;
    if (terms <= ignoreUntil)
    {
        Log("info", "ignoring the first signal (test mode)");
        return;
    }

    if (terms > ignoreUntil + 1)
    {
        Environment.Exit(143);
    }

    Log("info", $"Initiating graceful shutdown due to signal {(context.Signal == PosixSignal.SIGINT ? "interrupt" : "terminated")} ...");
    ready = false;
    shutdown.TrySetResult();
}

using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnTerm);
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnTerm);
using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => Environment.Exit(129));

var connectMs = int.Parse(Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_CONNECT_MS") ?? "100");
_ = Task.Run(async () =>
{
    await Task.Delay(connectMs);
    if (mode == "crash")
    {
        Log("fatal", "crashing (test mode)");
        Environment.Exit(1);
    }

    if (mode == "never-ready" || shutdown.Task.IsCompleted)
    {
        return;
    }

    for (var i = 0; i < 4; i++)
    {
        Log("info", "Registered tunnel connection", ("connIndex", i), ("connection", Guid.NewGuid()), ("event", 0), ("ip", "198.41.192.7"), ("location", "test"), ("protocol", "quic"));
    }

    ready = true;
});

await shutdown.Task;
var grace = TimeSpan.FromSeconds(30);
if (values.TryGetValue("--grace-period", out var graceText) && graceText.EndsWith('s'))
{
    grace = TimeSpan.FromSeconds(double.Parse(graceText[..^1], System.Globalization.CultureInfo.InvariantCulture));
}

var edgeClose = TimeSpan.FromMilliseconds(int.Parse(Environment.GetEnvironmentVariable("FAKE_CLOUDFLARED_EDGE_CLOSE_MS") ?? "100"));
await Task.Delay(edgeClose < grace ? edgeClose : grace);
Log("info", "Unregistered tunnel connection");
Log("info", "Tunnel server stopped");
await app.StopAsync();
return 0;
