using McpTunnel.Commands;
using McpTunnel.Commands.Token;
using McpTunnel.Credentials;
using McpTunnel.Tests.Connector;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Cli;

/// <summary>What the packaged service relies on: token set, the root-writes guard and the stored tunnel domain.</summary>
public sealed class ServiceSupportTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData("eyJh Yi", "whitespace")]
    [InlineData("not base64 at all!", "whitespace")]
    [InlineData("%%%%", "not base64")]
    [InlineData("bm90IGpzb24=", "does not decode to JSON")]
    [InlineData("WzEsMl0=", "JSON object")]
    [InlineData("eyJhIjoieCIsInQiOiJ5In0=", "\"t\" is not a UUID")]
    public void A_token_that_is_not_a_connector_token_is_named_as_such(string token, string problem)
    {
        Assert.Contains(problem, TunnelToken.Problem(token), StringComparison.Ordinal);
    }

    [Fact]
    public void A_connector_token_passes_and_forms_cloudflared_would_refuse_do_not()
    {
        var token = CloudflaredSupervisorTests.NewToken();
        Assert.Null(TunnelToken.Problem(token));
        // cloudflared decodes with standard, padded base64: a URL-safe or unpadded copy is caught here, not at start.
        var padded = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("{\"a\":\"acct\",\"t\":\"6f6c1b0e-8a0e-4c56-9d0b-2f4b6a1e3c7d\",\"s\":\"c2VjcmV0\"}"));
        Assert.EndsWith("=", padded, StringComparison.Ordinal);
        Assert.Null(TunnelToken.Problem(padded));
        Assert.Contains("not base64", TunnelToken.Problem(padded.TrimEnd('=')), StringComparison.Ordinal);
        var urlSafe = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("{\"a\":\"acct\",\"t\":\"tun>>\",\"s\":\"secret??\"}"));
        Assert.Contains("+", urlSafe, StringComparison.Ordinal);
        Assert.Contains("not base64", TunnelToken.Problem(urlSafe.Replace('+', '-').Replace('/', '_')), StringComparison.Ordinal);
    }

    [Fact]
    public void Token_set_writes_the_token_0600_and_says_so_when_it_is_unchanged()
    {
        var token = CloudflaredSupervisorTests.NewToken();
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Ok, TokenSetCommand.Set(_directory.Path, new StringReader("\n" + token + "\n\n"), output, error));
        var file = _directory.File("tunnel-token");
        Assert.Equal(token + "\n", File.ReadAllText(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Contains("wrote", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(token, output.ToString(), StringComparison.Ordinal);

        var again = new StringWriter();
        Assert.Equal(ExitCodes.Ok, TokenSetCommand.Set(_directory.Path, new StringReader(token), again, error));
        Assert.Contains("nothing changed", again.ToString(), StringComparison.Ordinal);
        Assert.Empty(error.ToString());
    }

    [Fact]
    public void Token_set_refuses_a_bad_paste_and_keeps_the_old_token()
    {
        var token = CloudflaredSupervisorTests.NewToken();
        _directory.Write("tunnel-token", token + "\n");
        var error = new StringWriter();
        Assert.Equal(ExitCodes.Usage, TokenSetCommand.Set(_directory.Path, new StringReader("eyJhIjoi\nx"), new StringWriter(), error));
        Assert.Contains("not a cloudflared connector token", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("nothing was written", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(token + "\n", File.ReadAllText(_directory.File("tunnel-token")));
    }

    [Fact]
    public void Root_writing_into_the_service_users_directory_is_refused_with_the_command_to_use()
    {
        var directory = new DataDirectory(_directory.Path);
        var refused = Assert.Throws<CredentialsException>(() => directory.RefuseForeignOwner(caller: 0, owner: 997));
        Assert.Contains("runs as root", refused.Message, StringComparison.Ordinal);
        Assert.Contains("sudo -u", refused.Message, StringComparison.Ordinal);

        // Root in root's own directory, and any user in any directory, go ahead (the OS decides the rest).
        directory.RefuseForeignOwner(caller: 0, owner: 0);
        directory.RefuseForeignOwner(caller: 1000, owner: 997);
        directory.RefuseForeignOwner(caller: 0, owner: null);
    }

    [Fact]
    public void The_owner_of_a_directory_is_read_from_the_file_system()
    {
        Assert.Equal(FileOwner.EffectiveUserId, FileOwner.Of(_directory.Path));
        Assert.Null(FileOwner.Of(_directory.File("missing")));
        Assert.Equal("root", FileOwner.UserName(0));
    }

    [Fact]
    public void Run_takes_the_tunnel_domain_from_the_data_directory_when_the_file_and_flag_have_none()
    {
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-domain", "stored1234.tunnel.test\n");
        var bare = _directory.Write("bare.yaml", $"listen_addr: \"127.0.0.1:0\"\ntls: {{ cert_file: tls.crt, key_file: tls.key }}\nroutes: {{ echo: \"http://10.0.0.1:80\" }}\nappliance: {{ data_dir: {_directory.Path} }}\n");
        var printed = new StringWriter();
        var (config, domainFile) = ConfigFiles.LoadForAppliance(bare, null, printed);
        Assert.Equal("stored1234.tunnel.test", config!.TunnelDomain);
        Assert.Equal(_directory.File("tunnel-domain"), domainFile);
        // The problems printed are those of the configuration used: no "bare subdomain without a domain" warning.
        Assert.DoesNotContain("bare subdomain", printed.ToString(), StringComparison.Ordinal);

        // The flag wins, then the file's own value.
        var flagged = ConfigFiles.LoadForAppliance(bare, "flag.tunnel.test", TextWriter.Null);
        Assert.Equal("flag.tunnel.test", flagged.Config!.TunnelDomain);
        Assert.Null(flagged.DomainFile);
        var explicitDomain = _directory.Write("explicit.yaml", File.ReadAllText(bare) + "tunnel_domain: file.tunnel.test\n");
        var explicitly = ConfigFiles.LoadForAppliance(explicitDomain, null, TextWriter.Null);
        Assert.Equal("file.tunnel.test", explicitly.Config!.TunnelDomain);
        Assert.Null(explicitly.DomainFile);
    }

    [Fact]
    public void A_bad_stored_tunnel_domain_is_reported_as_that_file_not_as_the_flag()
    {
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-domain", "https://stored1234.tunnel.test/\n");
        var bare = _directory.Write("bare.yaml", $"listen_addr: \"127.0.0.1:0\"\ntls: {{ cert_file: tls.crt, key_file: tls.key }}\nroutes: {{ echo: \"http://10.0.0.1:80\" }}\nappliance: {{ data_dir: {_directory.Path} }}\n");
        var printed = new StringWriter();
        var (config, _) = ConfigFiles.LoadForAppliance(bare, null, printed);
        Assert.Null(config);
        // The user typed no flag: the problem names the file that holds the value, and what to do about it.
        Assert.Contains(
            $"{_directory.File("tunnel-domain")}: \"https://stored1234.tunnel.test/\" is not a bare domain; write it as shown on the tunnel's page, for example abcd1234.tunnel.anthropic.com " +
            "(this file is read because the configuration sets no tunnel_domain: correct the file, or set tunnel_domain in the configuration)",
            printed.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("-tunnel-domain", printed.ToString(), StringComparison.Ordinal);
        Assert.Contains($"invalid configuration: 1 error in {bare}", printed.ToString(), StringComparison.Ordinal);

        // The flag's own bad value is still reported as the flag.
        printed = new StringWriter();
        Assert.Null(ConfigFiles.LoadForAppliance(bare, "https://flag.tunnel.test/", printed).Config);
        Assert.Contains($"{bare}: -tunnel-domain: \"https://flag.tunnel.test/\" is not a bare domain", printed.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_with_errors_is_reported_with_the_stored_domain_too_not_with_a_false_bare_subdomain_warning()
    {
        new TestPki().WriteTo(_directory);
        _directory.Write("tunnel-domain", "stored1234.tunnel.test\n");
        var broken = _directory.Write("broken.yaml", $"listen_addr: \"not an address\"\ntls: {{ cert_file: tls.crt, key_file: tls.key }}\nroutes: {{ echo: \"http://10.0.0.1:80\" }}\nappliance: {{ data_dir: {_directory.Path} }}\n");
        var printed = new StringWriter();
        var (config, _) = ConfigFiles.LoadForAppliance(broken, null, printed);
        Assert.Null(config);
        Assert.Contains("listen_addr: invalid address", printed.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("bare subdomain", printed.ToString(), StringComparison.Ordinal);
        Assert.Contains("invalid configuration: 1 error", printed.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Under_systemd_the_token_is_read_from_the_credential_and_rotations_are_watched_at_its_source()
    {
        using var credentials = new TempDirectory();
        credentials.Write("tunnel-token", "from-credential\n");
        string? Environment(string name) => name == "CREDENTIALS_DIRECTORY" ? credentials.Path : null;

        // A credential without a data-directory copy (loaded from elsewhere): it is watched itself.
        var alone = McpTunnel.Connector.TokenSource.Find(_directory.Path, Environment)!;
        Assert.Equal(credentials.File("tunnel-token"), alone.Path);
        Assert.Equal(alone, alone.Watched);

        _directory.Write("tunnel-token", "in-data\n");
        var credential = McpTunnel.Connector.TokenSource.Find(_directory.Path, Environment)!;
        Assert.Equal(credentials.File("tunnel-token"), credential.Path);
        Assert.Equal(_directory.File("tunnel-token"), credential.Watched.Path);

        // No systemd: the data directory's file is both read and watched.
        var plain = McpTunnel.Connector.TokenSource.Find(_directory.Path, _ => null)!;
        Assert.Equal(_directory.File("tunnel-token"), plain.Path);
        Assert.Equal(plain, plain.Watched);
    }

    public void Dispose() => _directory.Dispose();
}
