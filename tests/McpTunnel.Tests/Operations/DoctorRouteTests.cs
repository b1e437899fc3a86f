using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Upstream;
using McpTunnel.Operations.Doctor;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Operations;

/// <summary>
/// <c>doctor</c>'s route checks take the gateway's path: its resolver, its IP policy, its dial and its https identity
/// and trust (<see cref="UpstreamClient"/>), so what doctor says about a route is what the gateway does with it.
/// </summary>
public sealed class DoctorRouteTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    /// <summary>Maps <c>up.internal</c> to loopback; no other name resolves. Handed to the gateway and to doctor alike.</summary>
    private static readonly UpstreamResolver Resolver = new((host, _) => Task.FromResult(host == "up.internal" ? [IPAddress.Loopback] : Array.Empty<IPAddress>()));

    public DoctorRouteTests() => new TestPki().WriteTo(_directory);

    private async Task<Dictionary<string, DoctorCheck>> DoctorAsync(string routesYaml, string upstreamYaml)
    {
        var path = _directory.Write("doctor.yaml", $"""
            listen_addr: "127.0.0.1:1"
            tunnel_domain: {TestPki.Domain}
            tls: {"{"} cert_file: tls.crt, key_file: tls.key {"}"}
            routes:
            {routesYaml}
            {upstreamYaml}
            appliance:
              data_dir: {_directory.Path}
              offline: true
              cloudflared: {"{"} enabled: false {"}"}
            """);
        var loaded = ConfigLoader.LoadFile(path);
        Assert.True(loaded.Succeeded, string.Join("\n", loaded.Problems));
        var checks = await DoctorChecks.RunAsync(new DoctorOptions
        {
            ConfigPath = path,
            Config = loaded,
            Cloudflared = _ => throw new InvalidOperationException("cloudflared is disabled: doctor must not set it up"),
            ApiTarget = "127.0.0.1:1",
            EdgeTarget = "127.0.0.1:1",
            Timeout = TimeSpan.FromSeconds(10),
            UpstreamResolver = Resolver.Resolve,
            Environment = _ => null,
        }, CancellationToken.None);
        return checks.ToDictionary(c => c.Name);
    }

    [Fact]
    public async Task An_https_route_whose_certificate_names_only_the_route_host_passes_with_the_route_host_as_server_name()
    {
        using var pki = new UpstreamPki();
        await using var upstream = await HttpsUpstream.StartAsync(pki.Issue("up.internal"));
        var caFile = _directory.Write("upstream-ca.crt", pki.CaPem);
        var routes = $"  secure: https://up.internal:{upstream.Port}";
        var upstreamYaml = $"upstream:\n  allowed_ips: [127.0.0.0/8]\n  tls:\n    ca_file: {caFile}";

        var checks = await DoctorAsync(routes, upstreamYaml);

        // The name resolves only through the resolver the gateway is given: doctor looked it up the gateway's way.
        Assert.Equal(DoctorCheck.Pass, checks["route secure dns"].Result);
        Assert.Equal("up.internal -> 127.0.0.1", checks["route secure dns"].Detail);
        Assert.True(checks["route secure tls"].Result == DoctorCheck.Pass, checks["route secure tls"].Detail);
        Assert.Contains("certificate for up.internal verified (upstream.tls.ca_file)", checks["route secure tls"].Detail, StringComparison.Ordinal);
        Assert.True(checks["route secure mcp"].Result == DoctorCheck.Pass, checks["route secure mcp"].Detail);
        Assert.Contains($"Host secure.{TestPki.Domain}", checks["route secure mcp"].Detail, StringComparison.Ordinal);
        // Every handshake (the tls check's and the request's) named the route host, never the tunnel host the request carries.
        Assert.NotEmpty(upstream.ServerNames);
        Assert.All(upstream.ServerNames, name => Assert.Equal("up.internal", name));

        // And the gateway, with the same configuration and resolver, serves the route.
        await using var gateway = await GatewayHarness.StartAsync(routes, upstreamYaml, upstreamResolver: Resolver);
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("secure")}/mcp"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task An_ip_policy_refusal_is_reported_in_the_words_the_gateway_logs_and_nothing_is_dialled()
    {
        // The upstream is a listener that records connections: the policy must refuse before any dial.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var routes = $"  local: http://up.internal:{port}";

        var checks = await DoctorAsync(routes, "");

        var refused = checks["route local ip policy"];
        Assert.Equal(DoctorCheck.Fail, refused.Result);
        Assert.Equal("add the narrowest CIDR (e.g. 127.0.0.1/32) to upstream.allowed_ips", refused.Fix);
        Assert.DoesNotContain("route local tcp", checks.Keys);
        Assert.False(listener.Pending(), "doctor dialled an address its IP policy refused");

        // The gateway, given the same route and resolver, refuses the same address and logs it.
        await using var gateway = await GatewayHarness.StartAsync(routes, upstreamResolver: Resolver);
        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("local")}/mcp"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var logged = (await gateway.Logs.WaitForAsync("IP validation failed")).Message;
        // Logged: "IP validation failed: 127.0.0.1 is not a private address host=up.internal allowed=<networks>";
        // doctor:  "IP validation failed: 127.0.0.1 is not a private address (allowed: <networks>)".
        var allowedAt = refused.Detail.IndexOf(" (allowed: ", StringComparison.Ordinal);
        Assert.True(allowedAt > 0, refused.Detail);
        Assert.StartsWith(refused.Detail[..allowedAt] + " host=up.internal", logged, StringComparison.Ordinal);
        Assert.EndsWith($"allowed={refused.Detail[(allowedAt + " (allowed: ".Length)..^1]}", logged, StringComparison.Ordinal);
        Assert.False(listener.Pending(), "the gateway dialled an address its IP policy refused");
    }

    public void Dispose() => _directory.Dispose();
}
