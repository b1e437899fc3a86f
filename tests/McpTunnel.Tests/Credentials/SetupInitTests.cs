using System.Net;
using McpTunnel.Credentials;
using McpTunnel.Credentials.Api;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Credentials;

/// <summary><c>setup init</c> end to end against a fake Tunnels API that enforces the documented contract.</summary>
public sealed class SetupInitTests : IAsyncLifetime
{
    private FakeTunnelsApi _api = null!;
    private TempDirectory _directory = null!;
    private readonly HttpClient _http = new();
    private readonly List<string> _progress = [];

    public async Task InitializeAsync()
    {
        _api = await FakeTunnelsApi.StartAsync();
        _directory = new TempDirectory();
    }

    public async Task DisposeAsync()
    {
        Assert.Empty(_api.Violations);
        await _api.DisposeAsync();
        _directory.Dispose();
        _http.Dispose();
    }

    private DataDirectory Output => new(Path.Combine(_directory.Path, "data"));

    private static SetupIdentity Federation => new SetupIdentity.Federation(FakeTunnelsApi.RuleId, FakeTunnelsApi.OrganizationId, null, null, FakeTunnelsApi.Jwt, null);

    private SetupInit NewRun(SetupIdentity? identity = null, Func<string, ValueTask>? afterStep = null) =>
        new(new TunnelsApiClient(_http, _api.Url, new RetryPolicy(4, TimeSpan.FromMilliseconds(1), TimeProvider.System)), identity ?? Federation) { AfterStep = afterStep };

    private Task<SetupInitResult> RunAsync(string? tunnelId = null, string? tokenVersion = null, SetupIdentity? identity = null, Func<string, ValueTask>? afterStep = null, KeyAlgorithm key = KeyAlgorithm.EcdsaP256) =>
        NewRun(identity, afterStep).RunAsync(new SetupInitOptions { Output = Output, TunnelId = tunnelId, TokenVersion = tokenVersion, ServerKey = key }, _progress.Add, CancellationToken.None);

    private void AssertCompleteAndConsistent(FakeTunnel tunnel)
    {
        var output = Output;
        Assert.Equal(tunnel.Id, output.ReadValue(DataDirectory.TunnelId));
        Assert.Equal(tunnel.Domain, output.ReadValue(DataDirectory.TunnelDomain));
        Assert.Equal(tunnel.Token, output.ReadValue(DataDirectory.TunnelToken));
        var caPem = output.Read(DataDirectory.CaCertificate)!;
        var active = Assert.Single(tunnel.Certificates, c => c.ArchivedAt is null);
        Assert.Equal(SetupInit.Fingerprint(caPem), active.Fingerprint);
        var checks = CertificateInspector.CheckCa(caPem, DateTimeOffset.UtcNow)
            .Concat(CertificateInspector.CheckServer(output.Read(DataDirectory.ServerCertificate)!, output.Read(DataDirectory.ServerKey), caPem, tunnel.Domain, DateTimeOffset.UtcNow));
        Assert.All(checks, c => Assert.True(c.Passed, $"{c.Subject} {c.Requirement}: {c.Detail}"));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(output.Path));
        foreach (var file in Directory.EnumerateFiles(output.Path))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            Assert.DoesNotMatch(@"\.tmp$", file);
        }
    }

    [Fact]
    public async Task A_fresh_run_creates_the_tunnel_registers_the_ca_and_writes_every_file()
    {
        var result = await RunAsync(tokenVersion: "1");

        var tunnel = Assert.Single(_api.Tunnels.Values);
        Assert.True(result.TunnelCreated && result.CaGenerated && result.CaRegistered);
        Assert.StartsWith("mcp-tunnel ", tunnel.DisplayName, StringComparison.Ordinal);
        AssertCompleteAndConsistent(tunnel);
        Assert.Equal("1", Output.ReadValue(DataDirectory.TokenVersion));
        Assert.Equal(0, tunnel.Rotations);

        // The exchange body follows RFC 7523 and leaves the service account to the rule.
        var exchange = _api.LastExchangeBody!;
        Assert.Equal("urn:ietf:params:oauth:grant-type:jwt-bearer", exchange["grant_type"]!.GetValue<string>());
        Assert.Equal(FakeTunnelsApi.RuleId, exchange["federation_rule_id"]!.GetValue<string>());
        Assert.Equal(FakeTunnelsApi.OrganizationId, exchange["organization_id"]!.GetValue<string>());
        Assert.False(exchange.ContainsKey("service_account_id"));
        Assert.False(exchange.ContainsKey("workspace_id"));

        // Nothing secret reaches the output.
        var printed = string.Join("\n", _progress);
        Assert.DoesNotContain(tunnel.Token, printed, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeTunnelsApi.Jwt, printed, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", printed, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-ant", printed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rerun_reuses_the_tunnel_and_ca_and_registers_nothing()
    {
        await RunAsync(tokenVersion: "1");
        var caBefore = Output.Read(DataDirectory.CaCertificate);
        var creates = _api.Calls("POST /v1/tunnels");
        var registrations = _api.Calls("POST /v1/tunnels/{id}/certificates");

        var result = await RunAsync(tokenVersion: "1");

        Assert.False(result.TunnelCreated || result.CaGenerated || result.CaRegistered || result.TokenRotated);
        Assert.Equal(caBefore, Output.Read(DataDirectory.CaCertificate));
        Assert.Equal(creates, _api.Calls("POST /v1/tunnels"));
        Assert.Equal(registrations, _api.Calls("POST /v1/tunnels/{id}/certificates"));
        Assert.Equal(0, _api.Calls("GET /v1/tunnels/{id}/certificates") - 1); // looked once, on the first run
        var tunnel = Assert.Single(_api.Tunnels.Values);
        Assert.Equal(0, tunnel.Rotations);
        AssertCompleteAndConsistent(tunnel);
    }

    [Fact]
    public async Task A_changed_token_version_rotates_and_an_unchanged_one_never_does()
    {
        await RunAsync(tokenVersion: "1");
        var tunnel = Assert.Single(_api.Tunnels.Values);
        var first = Output.ReadValue(DataDirectory.TunnelToken);

        var rotated = await RunAsync(tokenVersion: "2");
        Assert.True(rotated.TokenRotated);
        Assert.Equal(1, tunnel.Rotations);
        Assert.NotEqual(first, Output.ReadValue(DataDirectory.TunnelToken));
        Assert.Equal("2", Output.ReadValue(DataDirectory.TokenVersion));

        var again = await RunAsync(tokenVersion: "2");
        Assert.False(again.TokenRotated);
        await RunAsync();
        Assert.Equal(1, tunnel.Rotations);
        Assert.Equal("2", Output.ReadValue(DataDirectory.TokenVersion));
        AssertCompleteAndConsistent(tunnel);
    }

    [Fact]
    public async Task A_changed_tunnel_id_gets_a_new_ca_registered_on_the_new_tunnel()
    {
        var original = _api.AddTunnel("first");
        await RunAsync(tunnelId: original.Id);
        var oldCa = Output.Read(DataDirectory.CaCertificate);
        var other = _api.AddTunnel("second");

        var result = await RunAsync(tunnelId: other.Id);

        Assert.True(result.CaGenerated && result.CaRegistered && !result.TunnelCreated);
        Assert.NotEqual(oldCa, Output.Read(DataDirectory.CaCertificate));
        AssertCompleteAndConsistent(other);
        Assert.Single(original.Certificates);
        Assert.Equal(2, _api.Tunnels.Count);
    }

    [Fact]
    public async Task A_stored_tunnel_id_wins_over_creating_a_new_one()
    {
        await RunAsync();
        await RunAsync();
        Assert.Single(_api.Tunnels);
        Assert.Equal(1, _api.Calls("POST /v1/tunnels"));
    }

    [Fact]
    public async Task A_tunnels_api_key_works_without_any_exchange()
    {
        await RunAsync(identity: new SetupIdentity.ApiKey(FakeTunnelsApi.ApiKey));
        Assert.Equal(0, _api.Calls("POST /v1/oauth/token"));
        AssertCompleteAndConsistent(Assert.Single(_api.Tunnels.Values));
    }

    [Fact]
    public async Task The_two_certificate_cap_is_reported_with_what_to_do_and_the_request_id()
    {
        var tunnel = _api.AddTunnel();
        tunnel.Certificates.Add(new FakeCertificate("tcrt_a", "aa", DateTimeOffset.UtcNow.AddYears(1)));
        tunnel.Certificates.Add(new FakeCertificate("tcrt_b", "bb", DateTimeOffset.UtcNow.AddYears(1)));

        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync(tunnelId: tunnel.Id));

        Assert.Equal(HttpStatusCode.Conflict, error.Status);
        Assert.Contains("two active CA certificates", error.Message, StringComparison.Ordinal);
        Assert.Contains("Revoke one in the Console", error.Message, StringComparison.Ordinal);
        Assert.Matches(@"request_id req_test_\d+", error.Message);
        Assert.Equal(2, tunnel.Certificates.Count);
    }

    [Fact]
    public async Task A_refused_exchange_is_401_authentication_failed_with_where_to_look()
    {
        _api.DenyExchange = true;
        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
        Assert.Contains("Authentication failed", error.Message, StringComparison.Ordinal);
        Assert.Contains("authentication history", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(FakeTunnelsApi.Jwt, error.Message, StringComparison.Ordinal);
        Assert.Empty(_api.Tunnels);
    }

    [Fact]
    public async Task A_revoked_api_key_is_401_with_what_to_check()
    {
        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync(identity: new SetupIdentity.ApiKey("sk-revoked")));
        Assert.Equal(HttpStatusCode.Unauthorized, error.Status);
        Assert.Contains("revoked, truncated or from another organization", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-revoked", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_403_names_the_scope_and_workspace_membership()
    {
        _api.ForbidTunnelCalls = true;
        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync());
        Assert.Equal(HttpStatusCode.Forbidden, error.Status);
        Assert.Contains("workspace:manage_tunnels", error.Message, StringComparison.Ordinal);
        Assert.Contains("member of the tunnel's workspace", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ten_tunnel_limit_is_reported_verbatim_with_the_fix()
    {
        for (var i = 0; i < 10; i++)
        {
            _api.AddTunnel($"existing {i}");
        }

        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync());
        Assert.Contains("Organization already has the maximum of 10 non-archived Tunnels", error.Message, StringComparison.Ordinal);
        Assert.Contains("--tunnel-id", error.Message, StringComparison.Ordinal);
        Assert.Equal(10, _api.Tunnels.Count);
    }

    [Fact]
    public async Task Transient_5xx_answers_are_retried()
    {
        _api.FailNext("POST", "/v1/oauth/token", 503, "overloaded", type: "overloaded_error");
        _api.FailNext("POST", "/v1/tunnels/", 500);
        var tunnel = _api.AddTunnel();
        _api.FailNext("GET", $"/v1/tunnels/{tunnel.Id}", 502);

        await RunAsync(tunnelId: tunnel.Id);

        AssertCompleteAndConsistent(tunnel);
        Assert.Equal(2, _api.Calls("POST /v1/oauth/token"));
    }

    [Fact]
    public async Task A_5xx_after_the_tunnel_was_created_does_not_create_a_second_one()
    {
        _api.FailNext("POST", "/v1/tunnels", 500, afterEffect: true);
        await RunAsync();
        AssertCompleteAndConsistent(Assert.Single(_api.Tunnels.Values));
    }

    [Fact]
    public async Task A_5xx_after_the_ca_was_registered_does_not_register_it_twice()
    {
        var tunnel = _api.AddTunnel();
        _api.FailNext("POST", $"/v1/tunnels/{tunnel.Id}/certificates", 503, afterEffect: true);
        await RunAsync(tunnelId: tunnel.Id);
        AssertCompleteAndConsistent(tunnel);
    }

    [Fact]
    public async Task Persistent_5xx_gives_up_with_a_message_that_says_to_run_again()
    {
        var tunnel = _api.AddTunnel();
        for (var i = 0; i < 4; i++)
        {
            _api.FailNext("POST", $"/v1/tunnels/{tunnel.Id}/reveal_token", 500);
        }

        var error = await Assert.ThrowsAsync<TunnelsApiException>(() => RunAsync(tunnelId: tunnel.Id));
        Assert.Equal(HttpStatusCode.InternalServerError, error.Status);
        Assert.Contains("run setup again later", error.Message, StringComparison.Ordinal);
        Assert.False(Output.Exists(DataDirectory.TunnelToken));
    }

    [Theory]
    [InlineData("authenticated")]
    [InlineData("tunnel-intent")]
    [InlineData("tunnel-created")]
    [InlineData("tunnel")]
    [InlineData("ca-written")]
    [InlineData("ca-registered")]
    [InlineData("server-certificate")]
    [InlineData("token")]
    public async Task A_run_killed_at_any_step_completes_on_the_next_run_without_duplicates(string step)
    {
        await Assert.ThrowsAsync<SimulatedCrash>(() => RunAsync(tokenVersion: "1", afterStep: name => name == step ? throw new SimulatedCrash() : ValueTask.CompletedTask));

        await RunAsync(tokenVersion: "1");

        var tunnel = Assert.Single(_api.Tunnels.Values);
        AssertCompleteAndConsistent(tunnel);
        Assert.Equal(1, _api.Calls("POST /v1/tunnels"));
        Assert.Equal(1, _api.Calls("POST /v1/tunnels/{id}/certificates"));
        Assert.Equal(0, tunnel.Rotations);
        Assert.Equal("1", Output.ReadValue(DataDirectory.TokenVersion));
    }

    [Fact]
    public async Task Two_runs_on_one_directory_cannot_interleave()
    {
        Output.Ensure();
        using var held = Output.Lock();
        var error = await Assert.ThrowsAsync<CredentialsException>(() => RunAsync());
        Assert.Contains("in use by another mcp-tunnel setup", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _api.Calls("POST /v1/oauth/token"));
    }

    [Fact]
    public async Task An_rsa_4096_server_key_is_available_as_the_setup_component_makes_it()
    {
        await RunAsync(key: KeyAlgorithm.Rsa4096);
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(Output.Read(DataDirectory.ServerCertificate)!);
        using var rsa = System.Security.Cryptography.X509Certificates.RSACertificateExtensions.GetRSAPublicKey(certificate)!;
        Assert.Equal(4096, rsa.KeySize);
        AssertCompleteAndConsistent(Assert.Single(_api.Tunnels.Values));
    }

    private sealed class SimulatedCrash : Exception;
}
