using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace McpTunnel.Credentials.Api;

/// <summary>
/// The Tunnels REST API and the Workload Identity Federation token exchange (spec 5), with the documented
/// headers on every call. Safe calls (GET, reveal, list) are retried on transient failures with
/// exponential backoff; calls that create something are not retried here: <see cref="SetupInit"/> first
/// looks for what a failed attempt may have created.
/// </summary>
public sealed class TunnelsApiClient
{
    public const string AnthropicVersion = "2023-06-01";
    public const string TunnelsBeta = "mcp-tunnels-2026-06-22";
    public const string ExchangeBeta = "oauth-2025-04-20,oidc-federation-2026-04-01";

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly RetryPolicy _retry;
    private string? _bearer;
    private bool _oauthBearer;

    public TunnelsApiClient(HttpClient http, Uri apiUrl, RetryPolicy? retry = null)
    {
        _http = http;
        _base = new Uri(apiUrl.ToString().TrimEnd('/') + "/");
        _retry = retry ?? RetryPolicy.Default;
    }

    /// <summary>Uses a Tunnels API key (claude.ai flow) as the bearer token.</summary>
    public void UseApiKey(string apiKey)
    {
        _bearer = apiKey;
        _oauthBearer = false;
    }

    /// <summary>Exchanges the workload's identity token for a short-lived access token and uses it.</summary>
    public async Task ExchangeAsync(TokenExchangeRequest request, CancellationToken cancellationToken)
    {
        var response = await SendAsync(HttpMethod.Post, "v1/oauth/token", request, ApiJsonContext.Default.TokenExchangeRequest,
            ApiJsonContext.Default.TokenExchangeResponse, exchange: true, retry: true, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(response.AccessToken))
        {
            throw new TunnelsApiException("the token exchange answered without an access_token", HttpStatusCode.OK);
        }

        _bearer = response.AccessToken;
        _oauthBearer = true;
    }

    public Task<Tunnel> GetTunnelAsync(string tunnelId, CancellationToken cancellationToken) =>
        SendAsync<object, Tunnel>(HttpMethod.Get, $"v1/tunnels/{Uri.EscapeDataString(tunnelId)}", null, null, ApiJsonContext.Default.Tunnel, false, true, cancellationToken);

    public Task<Tunnel> CreateTunnelAsync(string? displayName, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "v1/tunnels", new CreateTunnelRequest(displayName), ApiJsonContext.Default.CreateTunnelRequest, ApiJsonContext.Default.Tunnel, false, false, cancellationToken);

    public async Task<IReadOnlyList<Tunnel>> ListTunnelsAsync(CancellationToken cancellationToken)
    {
        var all = new List<Tunnel>();
        string? page = null;
        do
        {
            var path = "v1/tunnels?limit=1000" + (page is null ? "" : "&page=" + Uri.EscapeDataString(page));
            var result = await SendAsync<object, TunnelPage>(HttpMethod.Get, path, null, null, ApiJsonContext.Default.TunnelPage, false, true, cancellationToken).ConfigureAwait(false);
            all.AddRange(result.Data);
            page = result.NextPage;
        }
        while (page is not null);
        return all;
    }

    public Task<TunnelCertificate> CreateCertificateAsync(string tunnelId, string caPem, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"v1/tunnels/{Uri.EscapeDataString(tunnelId)}/certificates", new CreateCertificateRequest(caPem),
            ApiJsonContext.Default.CreateCertificateRequest, ApiJsonContext.Default.TunnelCertificate, false, false, cancellationToken);

    public async Task<IReadOnlyList<TunnelCertificate>> ListCertificatesAsync(string tunnelId, CancellationToken cancellationToken)
    {
        var all = new List<TunnelCertificate>();
        string? page = null;
        do
        {
            var path = $"v1/tunnels/{Uri.EscapeDataString(tunnelId)}/certificates?limit=1000" + (page is null ? "" : "&page=" + Uri.EscapeDataString(page));
            var result = await SendAsync<object, CertificatePage>(HttpMethod.Get, path, null, null, ApiJsonContext.Default.CertificatePage, false, true, cancellationToken).ConfigureAwait(false);
            all.AddRange(result.Data);
            page = result.NextPage;
        }
        while (page is not null);
        return all;
    }

    /// <summary>Reveals the current token; the same value until rotated, so it is safe to retry.</summary>
    public Task<TunnelTokenResponse> RevealTokenAsync(string tunnelId, CancellationToken cancellationToken) =>
        SendAsync<object, TunnelTokenResponse>(HttpMethod.Post, $"v1/tunnels/{Uri.EscapeDataString(tunnelId)}/reveal_token", null, null, ApiJsonContext.Default.TunnelTokenResponse, false, true, cancellationToken);

    /// <summary>Rotates the token. Retried on transient failures: a lost rotation only means one more rotation.</summary>
    public Task<TunnelTokenResponse> RotateTokenAsync(string tunnelId, string? reason, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"v1/tunnels/{Uri.EscapeDataString(tunnelId)}/rotate_token", new RotateTokenRequest(reason),
            ApiJsonContext.Default.RotateTokenRequest, ApiJsonContext.Default.TunnelTokenResponse, false, true, cancellationToken);

    private async Task<TResponse> SendAsync<TRequest, TResponse>(
        HttpMethod method, string path, TRequest? body, JsonTypeInfo<TRequest>? bodyType, JsonTypeInfo<TResponse> responseType,
        bool exchange, bool retry, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await SendOnceAsync(method, path, body, bodyType, responseType, exchange, cancellationToken).ConfigureAwait(false);
            }
            catch (TunnelsApiException ex) when (retry && ex.IsTransient && attempt < _retry.MaxAttempts)
            {
                await Task.Delay(_retry.Delay(attempt), _retry.Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<TResponse> SendOnceAsync<TRequest, TResponse>(
        HttpMethod method, string path, TRequest? body, JsonTypeInfo<TRequest>? bodyType, JsonTypeInfo<TResponse> responseType,
        bool exchange, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(_base, path));
        request.Headers.UserAgent.ParseAdd("mcp-tunnel-setup/1");
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
        if (exchange)
        {
            request.Headers.TryAddWithoutValidation("anthropic-beta", ExchangeBeta);
        }
        else
        {
            if (_bearer is null)
            {
                throw new InvalidOperationException("no credentials: call UseApiKey or ExchangeAsync first");
            }

            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _bearer);
            // An OAuth bearer also announces the OAuth beta (spec open question 21).
            request.Headers.TryAddWithoutValidation("anthropic-beta", _oauthBearer ? $"{TunnelsBeta},oauth-2025-04-20" : TunnelsBeta);
        }

        if (bodyType is not null && body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, bodyType), Encoding.UTF8, "application/json");
        }
        else if (method == HttpMethod.Post)
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new TunnelsApiException($"{method} {_base}{Strip(path)}: cannot reach the API ({ex.Message}); check --api-url and outbound HTTPS (port 443) from this host", null, ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TunnelsApiException($"{method} {_base}{Strip(path)}: the API did not answer in time", null, ex);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    return JsonSerializer.Deserialize(text, responseType)
                        ?? throw new JsonException("empty body");
                }
                catch (JsonException ex)
                {
                    throw new TunnelsApiException($"{method} {Strip(path)}: unexpected response from the API ({ex.Message})", response.StatusCode, ex);
                }
            }

            ErrorEnvelope? envelope = null;
            try
            {
                envelope = JsonSerializer.Deserialize(text, ApiJsonContext.Default.ErrorEnvelope);
            }
            catch (JsonException)
            {
                // Not the standard envelope (a proxy's error page, say); the status still says enough.
            }

            throw ApiErrors.Describe(method, Strip(path), exchange, response.StatusCode, envelope, RequestId(response, envelope));
        }
    }

    private static string Strip(string path) => path.Split('?')[0];

    private static string? RequestId(HttpResponseMessage response, ErrorEnvelope? envelope) =>
        envelope?.RequestId ?? (response.Headers.TryGetValues("request-id", out var values) ? values.FirstOrDefault() : null);
}

/// <summary>How often and how patiently safe calls are retried.</summary>
public sealed record RetryPolicy(int MaxAttempts, TimeSpan BaseDelay, TimeProvider Time)
{
    public static readonly RetryPolicy Default = new(4, TimeSpan.FromSeconds(1), TimeProvider.System);

    /// <summary>1 s, 2 s, 4 s … with up to 25 % jitter.</summary>
    public TimeSpan Delay(int attempt) =>
        TimeSpan.FromTicks((long)(BaseDelay.Ticks * Math.Pow(2, attempt - 1) * (1 + (Random.Shared.NextDouble() * 0.25))));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{MaxAttempts} attempts from {BaseDelay.TotalSeconds}s");
}
