using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A Tunnels API on loopback that enforces the documented contract (spec 5): the version and beta headers on
/// every call, the bearer, the jwt-bearer exchange body, the CA PEM rules (one certificate, no key, at most
/// 8192 bytes, CA flags), two active certificates per tunnel, ten tunnels per organization, token reveal and
/// rotation semantics, and the error envelope with a request_id. Failures can be injected per path.
/// </summary>
public sealed class FakeTunnelsApi : IAsyncDisposable
{
    public const string ApiKey = "sk-ant-api-test-tunnels-key";
    public const string Jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";
    public const string RuleId = "fdrl_01TestRule";
    public const string OrganizationId = "4c1f7e39-3b0a-4f43-9d47-9c3b2f8e1a10";

    private readonly WebApplication _app;
    private readonly List<(string Method, string PathPrefix, int Status, string Type, string Message, bool AfterEffect)> _failures = [];
    private readonly ConcurrentDictionary<string, int> _calls = new();
    private int _requestIds;
    private int _ids;

    private FakeTunnelsApi(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public ConcurrentDictionary<string, FakeTunnel> Tunnels { get; } = new();

    public ConcurrentBag<string> AccessTokens { get; } = [];

    public bool DenyExchange { get; set; }

    public bool ForbidTunnelCalls { get; set; }

    public JsonObject? LastExchangeBody { get; private set; }

    /// <summary>Every violation of the contract the fake saw; tests assert it stays empty.</summary>
    public ConcurrentQueue<string> Violations { get; } = new();

    public int Calls(string key) => _calls.GetValueOrDefault(key);

    /// <summary>The next matching request fails with this status; with <paramref name="afterEffect"/> the action happens first.</summary>
    public void FailNext(string method, string pathPrefix, int status, string message = "injected failure", bool afterEffect = false, string type = "api_error")
        {
            lock (_failures)
            {
                _failures.Add((method, pathPrefix, status, type, message, afterEffect));
            }
        }

    public FakeTunnel AddTunnel(string? displayName = null)
    {
        var id = $"tnl_{Interlocked.Increment(ref _ids):D4}";
        var tunnel = new FakeTunnel(id, $"t{_ids:D4}abcd.tunnel.test", displayName);
        Tunnels[id] = tunnel;
        return tunnel;
    }

    public static async Task<FakeTunnelsApi> StartAsync()
    {
        var builder = LoopbackApp.CreateBuilder();
        var app = builder.Build();
        var api = new FakeTunnelsApi(app);
        app.Run(api.HandleAsync);
        await app.StartAsync();
        api.Url = new Uri($"http://127.0.0.1:{LoopbackApp.Port(app)}");
        return api;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value!;
        var key = $"{request.Method} {Normalize(path)}";
        _calls.AddOrUpdate(key, 1, (_, n) => n + 1);
        var body = request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0
            ? await new StreamReader(request.Body).ReadToEndAsync()
            : "";

        if (request.Headers["anthropic-version"] != "2023-06-01")
        {
            await Error(context, 400, "invalid_request_error", "anthropic-version: 2023-06-01 is required");
            return;
        }

        if (path == "/v1/oauth/token")
        {
            if (TakeFailure(request.Method, path) is { } failure)
            {
                await Error(context, failure.Status, failure.Type, failure.Message);
                return;
            }

            await ExchangeAsync(context, body);
            return;
        }

        if (!request.Headers["anthropic-beta"].ToString().Split(',').Select(s => s.Trim()).Contains("mcp-tunnels-2026-06-22"))
        {
            Violations.Enqueue($"{key}: missing beta header");
            await Error(context, 400, "invalid_request_error", "anthropic-beta: mcp-tunnels-2026-06-22 is required");
            return;
        }

        var auth = request.Headers.Authorization.ToString();
        if (!auth.StartsWith("Bearer ", StringComparison.Ordinal) || (auth[7..] != ApiKey && !AccessTokens.Contains(auth[7..])))
        {
            await Error(context, 401, "authentication_error", "invalid x-api-key");
            return;
        }

        if (ForbidTunnelCalls)
        {
            await Error(context, 403, "permission_error", "Your credentials do not have permission to perform this action");
            return;
        }

        var injected = TakeFailure(request.Method, path);
        if (injected is { AfterEffect: false } before)
        {
            await Error(context, before.Status, before.Type, before.Message);
            return;
        }

        var segments = path.Trim('/').Split('/');
        object? result = (request.Method, segments) switch
        {
            ("POST", ["v1", "tunnels"]) => CreateTunnel(context, body),
            ("GET", ["v1", "tunnels"]) => new JsonObject { ["data"] = new JsonArray([.. Tunnels.Values.Where(t => t.ArchivedAt is null).OrderByDescending(t => t.Created).Select(t => t.ToJson())]), ["next_page"] = null },
            ("GET", ["v1", "tunnels", var id]) => Tunnels.TryGetValue(id, out var t) ? t.ToJson() : NotFound(context),
            ("POST", ["v1", "tunnels", var id, "certificates"]) => CreateCertificate(context, id, body),
            ("GET", ["v1", "tunnels", var id, "certificates"]) => Tunnels.TryGetValue(id, out var t)
                ? new JsonObject { ["data"] = new JsonArray([.. t.Certificates.Where(c => c.ArchivedAt is null).Select(c => c.ToJson(id))]), ["next_page"] = null }
                : NotFound(context),
            ("POST", ["v1", "tunnels", var id, "reveal_token"]) => Tunnels.TryGetValue(id, out var t) ? t.TokenJson() : NotFound(context),
            ("POST", ["v1", "tunnels", var id, "rotate_token"]) => Rotate(context, id, body),
            _ => NotFound(context),
        };

        if (injected is { AfterEffect: true } after)
        {
            await Error(context, after.Status, after.Type, after.Message);
            return;
        }

        if (result is ErrorResult error)
        {
            await Error(context, error.Status, error.Type, error.Message);
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(((JsonNode)result!).ToJsonString());
    }

    private async Task ExchangeAsync(HttpContext context, string body)
    {
        var betas = context.Request.Headers["anthropic-beta"].ToString().Split(',').Select(s => s.Trim()).ToList();
        if (!betas.Contains("oidc-federation-2026-04-01") || !betas.Contains("oauth-2025-04-20"))
        {
            Violations.Enqueue("exchange: missing beta values");
            await Error(context, 400, "invalid_request_error", "missing beta");
            return;
        }

        if (context.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true)
        {
            Violations.Enqueue("exchange: not JSON");
        }

        var json = JsonNode.Parse(body)!.AsObject();
        LastExchangeBody = json;
        if (json["grant_type"]?.GetValue<string>() != "urn:ietf:params:oauth:grant-type:jwt-bearer"
            || json["federation_rule_id"]?.GetValue<string>() is not { } rule || !rule.StartsWith("fdrl_", StringComparison.Ordinal)
            || !Guid.TryParse(json["organization_id"]?.GetValue<string>(), out _)
            || json["assertion"] is null)
        {
            await Error(context, 400, "invalid_request_error", "malformed token request");
            return;
        }

        if (DenyExchange || json["assertion"]!.GetValue<string>() != Jwt)
        {
            await Error(context, 401, "authentication_error", "Authentication failed");
            return;
        }

        var token = $"sk-ant-oat01-{Guid.NewGuid():N}";
        AccessTokens.Add(token);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["access_token"] = token, ["token_type"] = "Bearer", ["expires_in"] = 3600, ["scope"] = "workspace:manage_tunnels" }.ToJsonString());
    }

    private object CreateTunnel(HttpContext context, string body)
    {
        if (Tunnels.Values.Count(t => t.ArchivedAt is null) >= 10)
        {
            return new ErrorResult(400, "invalid_request_error", "Organization already has the maximum of 10 non-archived Tunnels");
        }

        var displayName = body.Length == 0 ? null : JsonNode.Parse(body)?["display_name"]?.GetValue<string>();
        return AddTunnel(displayName).ToJson();
    }

    private object CreateCertificate(HttpContext context, string id, string body)
    {
        if (!Tunnels.TryGetValue(id, out var tunnel))
        {
            return NotFound(context);
        }

        var pem = JsonNode.Parse(body)?["ca_certificate_pem"]?.GetValue<string>();
        if (pem is null || pem.Length > 8192)
        {
            return new ErrorResult(400, "invalid_request_error", "ca_certificate_pem is required and at most 8192 characters");
        }

        if (pem.Contains("PRIVATE KEY", StringComparison.Ordinal) || pem.Split("-----BEGIN CERTIFICATE-----").Length != 2)
        {
            return new ErrorResult(400, "invalid_request_error", "ca_certificate_pem must contain exactly one certificate and no private key");
        }

        using var certificate = X509Certificate2.CreateFromPem(pem);
        var constraints = certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (constraints is not { CertificateAuthority: true, Critical: true } || !certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any()
            || usage is null || !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign))
        {
            return new ErrorResult(400, "invalid_request_error", "the certificate is not a valid CA certificate");
        }

        lock (tunnel)
        {
            if (tunnel.Certificates.Count(c => c.ArchivedAt is null) >= 2)
            {
                return new ErrorResult(409, "invalid_request_error", "Tunnel already has the maximum of 2 active certificates");
            }

            var record = new FakeCertificate($"tcrt_{Interlocked.Increment(ref _ids):D4}", Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)), certificate.NotAfter.ToUniversalTime());
            tunnel.Certificates.Add(record);
            return record.ToJson(id);
        }
    }

    private object Rotate(HttpContext context, string id, string body)
    {
        if (!Tunnels.TryGetValue(id, out var tunnel))
        {
            return NotFound(context);
        }

        if (body.Length == 0)
        {
            return new ErrorResult(400, "invalid_request_error", "a JSON body is required ({} is fine)");
        }

        tunnel.Rotate();
        return tunnel.TokenJson();
    }

    private static ErrorResult NotFound(HttpContext context) => new(404, "not_found_error", $"{context.Request.Path} not found");

    private (string Method, string PathPrefix, int Status, string Type, string Message, bool AfterEffect)? TakeFailure(string method, string path)
    {
        lock (_failures)
        {
            var index = _failures.FindIndex(f => f.Method == method && path.StartsWith(f.PathPrefix, StringComparison.Ordinal));
            if (index < 0)
            {
                return null;
            }

            var next = _failures[index];
            _failures.RemoveAt(index);
            return next;
        }
    }

    private async Task Error(HttpContext context, int status, string type, string message)
    {
        var id = $"req_test_{Interlocked.Increment(ref _requestIds):D5}";
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers["request-id"] = id;
        await context.Response.WriteAsync(new JsonObject
        {
            ["type"] = "error",
            ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
            ["request_id"] = id,
        }.ToJsonString());
    }

    private static string Normalize(string path) => string.Join('/', path.Split('/').Select(s => s.StartsWith("tnl_", StringComparison.Ordinal) ? "{id}" : s));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record ErrorResult(int Status, string Type, string Message);
}

public sealed class FakeTunnel(string id, string domain, string? displayName)
{
    private int _rotations;

    public string Id { get; } = id;

    public string Domain { get; } = domain;

    public string? DisplayName { get; } = displayName;

    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;

    public DateTimeOffset? ArchivedAt { get; set; }

    public List<FakeCertificate> Certificates { get; } = [];

    public string Token { get; private set; } = $"eyJ{Guid.NewGuid():N}token0";

    public int Rotations => _rotations;

    public void Rotate()
    {
        Interlocked.Increment(ref _rotations);
        Token = $"eyJ{Guid.NewGuid():N}token{_rotations}";
    }

    public JsonObject ToJson() => new()
    {
        ["type"] = "tunnel",
        ["id"] = Id,
        ["domain"] = Domain,
        ["display_name"] = DisplayName,
        ["created_at"] = Created.ToString("O"),
        ["archived_at"] = ArchivedAt?.ToString("O"),
    };

    public JsonObject TokenJson() => new() { ["type"] = "tunnel_token", ["id"] = $"ttok_{_rotations}", ["tunnel_token"] = Token };
}

public sealed record FakeCertificate(string Id, string Fingerprint, DateTimeOffset ExpiresAt)
{
    public DateTimeOffset? ArchivedAt { get; set; }

    public JsonObject ToJson(string tunnelId) => new()
    {
        ["type"] = "tunnel_certificate",
        ["id"] = Id,
        ["tunnel_id"] = tunnelId,
        ["fingerprint"] = Fingerprint,
        ["expires_at"] = ExpiresAt.ToString("O"),
        ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
        ["archived_at"] = ArchivedAt?.ToString("O"),
    };
}
