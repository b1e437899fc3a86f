using McpTunnel.Credentials;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Credentials;

public sealed class CredentialFilesTests
{
    [Fact]
    public void Atomic_writes_leave_0600_files_and_no_temporary_files()
    {
        using var directory = new TempDirectory();
        var path = directory.File("tunnel-token");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        AtomicFile.Write(path, "new\n");

        Assert.Equal("new\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(["tunnel-token"], Directory.EnumerateFiles(directory.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Only_our_own_temporary_files_are_removed_and_an_existing_directory_keeps_its_mode()
    {
        using var directory = new TempDirectory();
        var data = new DataDirectory(directory.File("data"));
        Directory.CreateDirectory(data.Path);
        File.SetUnixFileMode(data.Path, (UnixFileMode)0b111_101_101);
        var ours = data.File($".tls.key.mcp-tunnel-tmp.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(ours, "half a key");
        File.WriteAllText(data.File(".editor-swap.tmp"), "someone else's");
        File.WriteAllText(data.File(".tls.key.123.abc.tmp"), "not our name pattern");

        var note = data.Ensure();

        Assert.False(File.Exists(ours));
        Assert.True(File.Exists(data.File(".editor-swap.tmp")));
        Assert.True(File.Exists(data.File(".tls.key.123.abc.tmp")));
        Assert.Equal((UnixFileMode)0b111_101_101, File.GetUnixFileMode(data.Path));
        Assert.Contains("is mode 0755: others can see the names of the files", note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_we_create_is_0700()
    {
        using var directory = new TempDirectory();
        var data = new DataDirectory(directory.File("new/data"));

        Assert.Null(data.Ensure());

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data.Path));
    }

    [Fact]
    public void The_temporary_names_atomic_writes_use_are_the_ones_the_cleanup_removes()
    {
        using var directory = new TempDirectory();
        var left = AtomicFile.TemporaryPathFor(directory.File("tunnel-token"));
        File.WriteAllText(left, "a killed writer's half");

        AtomicFile.CleanTemporaryFiles(directory.Path);

        Assert.Matches(@"/\.tunnel-token\.mcp-tunnel-tmp\.[0-9a-f]{32}\.tmp$", left);
        Assert.False(File.Exists(left));
    }

    [Fact]
    public void Renewal_is_a_no_op_while_enough_validity_remains_and_renews_near_expiry()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var data = new DataDirectory(directory.Path);
        var factory = new CertificateFactory(time);
        var ca = factory.CreateCertificateAuthority();
        var server = factory.CreateServerCertificate(ca, "t.example", TimeSpan.FromDays(90));
        data.Write(DataDirectory.CaCertificate, ca.CertificatePem);
        data.Write(DataDirectory.CaKey, ca.PrivateKeyPem);
        data.Write(DataDirectory.ServerCertificate, server.CertificatePem);
        data.Write(DataDirectory.ServerKey, server.PrivateKeyPem);
        data.WriteValue(DataDirectory.TunnelDomain, "t.example");
        var renewal = new CertificateRenewal(time);

        var skipped = renewal.Renew(data, TimeSpan.FromHours(2160), TimeSpan.FromHours(720));
        Assert.False(skipped.Renewed);
        Assert.Equal(server.CertificatePem, data.Read(DataDirectory.ServerCertificate));
        Assert.Contains("nothing to do", skipped.Reason, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromDays(61));
        var renewed = renewal.Renew(data, TimeSpan.FromHours(2160), TimeSpan.FromHours(720));
        Assert.True(renewed.Renewed);
        Assert.NotEqual(server.PrivateKeyPem, data.Read(DataDirectory.ServerKey));
        var checks = CertificateInspector.CheckServer(data.Read(DataDirectory.ServerCertificate)!, data.Read(DataDirectory.ServerKey), ca.CertificatePem, "t.example", time.GetUtcNow());
        Assert.All(checks, c => Assert.True(c.Passed, $"{c.Requirement}: {c.Detail}"));

        // --renew-before 0 always renews.
        Assert.True(renewal.Renew(data, TimeSpan.FromHours(2160), TimeSpan.Zero).Renewed);
    }

    [Fact]
    public void Renewal_without_a_ca_says_what_to_run_first()
    {
        using var directory = new TempDirectory();
        var error = Assert.Throws<CredentialsException>(() => new CertificateRenewal().Renew(new DataDirectory(directory.Path), TimeSpan.FromHours(1), TimeSpan.Zero));
        Assert.Contains("run setup init (or cert init) first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Renewal_keeps_an_openssl_made_rsa_2048_key_type_and_finds_the_domain_in_the_certificate()
    {
        using var directory = new TempDirectory();
        var data = new DataDirectory(directory.Path);
        var factory = new CertificateFactory();
        var ca = factory.CreateCertificateAuthority(algorithm: KeyAlgorithm.Rsa2048);
        var server = factory.CreateServerCertificate(ca, "legacy.example", algorithm: KeyAlgorithm.Rsa2048);
        data.Write(DataDirectory.CaCertificate, ca.CertificatePem);
        data.Write(DataDirectory.CaKey, ca.PrivateKeyPem);
        data.Write(DataDirectory.ServerCertificate, server.CertificatePem);
        data.Write(DataDirectory.ServerKey, server.PrivateKeyPem);

        var result = new CertificateRenewal().Renew(data, TimeSpan.FromHours(2160), TimeSpan.Zero);

        Assert.Contains("*.legacy.example (RSA 2048)", result.Reason, StringComparison.Ordinal);
    }
}
