using System.Net;
using System.Text.Json;
using McpTunnel.Gateway.Upstream;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// https upstreams are checked against the route URL's host (issue 10 #2): the SNI the upstream sees and the
/// name its certificate must carry, whatever Host header the client sent and the gateway forwards.
/// </summary>
public sealed class UpstreamIdentityTests : IAsyncLifetime
{
    private readonly UpstreamPki _pki = new();
    private readonly TempDirectory _trust = new();
    private HttpsUpstream _named = null!;
    private HttpsUpstream _literal = null!;
    private GatewayHarness _gateway = null!;

    public async Task InitializeAsync()
    {
        _named = await HttpsUpstream.StartAsync(_pki.Issue("up.internal"));
        _literal = await HttpsUpstream.StartAsync(_pki.Issue("127.0.0.1"));
        var caFile = _trust.Write("upstream-ca.crt", _pki.CaPem);
        // up.internal resolves to loopback through the connector's resolver; the IP policy still applies to the answer.
        var resolver = new UpstreamResolver((host, _) => Task.FromResult(host == "up.internal" ? [IPAddress.Loopback] : Array.Empty<IPAddress>()));
        _gateway = await GatewayHarness.StartAsync(
            $"""
            secure: https://up.internal:{_named.Port}
            literal: https://127.0.0.1:{_literal.Port}
            wrongname: https://127.0.0.1:{_named.Port}
            """,
            $"upstream:\n  allowed_ips: [127.0.0.0/8]\n  tls:\n    ca_file: {caFile}",
            upstreamResolver: resolver);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _named.DisposeAsync();
        await _literal.DisposeAsync();
        _trust.Dispose();
        _pki.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonElement Seen)> GetAsync(string route, bool http2, string? hostHeader = null)
    {
        using var http = _gateway.CreateClient(http2, verify: hostHeader is null);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{GatewayHarness.Host(route)}/who");
        if (hostHeader is not null)
        {
            request.Headers.Host = hostHeader;
        }

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.IsSuccessStatusCode ? JsonDocument.Parse(body).RootElement.Clone() : default);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_https_upstream_is_verified_against_the_route_host_and_sees_it_as_sni(bool http2)
    {
        var (status, seen) = await GetAsync("secure", http2);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("up.internal", seen.GetProperty("sni").GetString());
        // The Host header is still the tunnel host name (MCP OAuth metadata needs it); only TLS ignores it.
        Assert.Equal(GatewayHarness.Host("secure"), seen.GetProperty("host").GetString());
        // ALPN goes through the gateway's own handshake: the handler speaks HTTP/2 on it.
        Assert.Equal("HTTP/2", seen.GetProperty("protocol").GetString());
    }

    [Fact]
    public async Task An_ip_literal_https_route_is_verified_against_the_ip_san_and_sends_no_sni()
    {
        var (status, seen) = await GetAsync("literal", http2: false);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("", seen.GetProperty("sni").GetString());
    }

    [Fact]
    public async Task Another_host_header_does_not_change_the_name_checked_or_sent()
    {
        // The same route reached under its upper-case spelling: the name checked is still up.internal.
        var (status, seen) = await GetAsync("secure", http2: false, hostHeader: GatewayHarness.Host("SECURE"));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("up.internal", seen.GetProperty("sni").GetString());
        Assert.DoesNotContain(_named.ServerNames, n => n != "up.internal");
        // Forwarded in lower case: one upstream pool per route, whatever spelling clients use.
        Assert.Equal(GatewayHarness.Host("secure"), seen.GetProperty("host").GetString());
    }

    [Fact]
    public async Task A_certificate_that_does_not_name_the_route_host_gets_502_with_the_reason_logged()
    {
        // wrongname dials 127.0.0.1, whose certificate there names only up.internal.
        var (status, _) = await GetAsync("wrongname", http2: false);

        Assert.Equal(HttpStatusCode.BadGateway, status);
        var line = await _gateway.Logs.WaitForAsync("upstream request failed route=wrongname");
        Assert.Contains("tls handshake with 127.0.0.1", line.Message, StringComparison.Ordinal);
        Assert.Equal(1, _gateway.Server.Metrics.UpstreamErrors);
    }
}
