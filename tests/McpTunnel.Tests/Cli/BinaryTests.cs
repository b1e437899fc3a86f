using System.Diagnostics;

namespace McpTunnel.Tests.Cli;

/// <summary>
/// The published Native AOT binary itself (artifacts/bin/mcp-tunnel, built by the README's test command
/// before the tests run). Skipped when it has not been built, e.g. in an IDE.
/// </summary>
public sealed class BinaryTests
{
    private static readonly string? Binary = FindBinary();

    private static string? FindBinary()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MCP_TUNNEL_BINARY");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            return fromEnvironment;
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "artifacts", "bin", "mcp-tunnel");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo(Binary!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [SkippableFact]
    public async Task The_aot_binary_runs_the_demo_end_to_end()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync("demo", "--once");
        Assert.True(code == 0, output);
        Assert.Contains("demo OK", output, StringComparison.Ordinal);
        Assert.Contains("msg=\"request started\" method=POST host=hello.demo1234.tunnel.invalid path=/mcp", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_aot_binary_accepts_the_proxys_argv_and_exits_1_on_a_bad_config()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using var directory = new Infrastructure.TempDirectory();
        var config = directory.Write("config.yaml", "listen_addr: \":8080\"\nroutes:\n  - echo: http://x:1\n");
        var (code, output) = await RunAsync("-config", config, "-tunnel-domain", "abcd.tunnel.example");
        Assert.Equal(1, code);
        Assert.Contains("cannot unmarshal !!seq into map[string]string", output, StringComparison.Ordinal);
        Assert.Contains("tls: is required", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Listening_on_every_interface_logs_the_socket_as_bound_not_a_loopback_address()
    {
        // ":PORT" binds every interface; the log named it 127.0.0.1:PORT while the socket was [::]:PORT. Run in a
        // network namespace of its own (unshare -rn), so the wildcard socket is never open on the host's network.
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        using (var probe = Process.Start(new ProcessStartInfo("unshare", ["-rn", "true"]) { RedirectStandardError = true })!)
        {
            await probe.WaitForExitAsync();
            Skip.If(probe.ExitCode != 0, "unshare -rn (a user and network namespace) is not allowed here");
        }

        using var directory = new Infrastructure.TempDirectory();
        new Infrastructure.TestPki().WriteTo(directory);
        var config = directory.Write("config.yaml", $"""
            listen_addr: ":18080"
            tunnel_domain: {Infrastructure.TestPki.Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes:
              echo: http://10.0.0.5:9000
            """);
        var start = new ProcessStartInfo("unshare") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "-rn", Binary!, "gateway", "--config", config })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line;
            while ((line = await process.StandardError.ReadLineAsync(timeout.Token)) is not null && !line.Contains("msg=\"gateway listening\"", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
            Assert.EndsWith("msg=\"gateway listening\" address=[::]:18080", line, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [SkippableFact]
    public async Task The_aot_binary_prints_its_version()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync("version");
        Assert.Equal(0, code);
        Assert.StartsWith("mcp-tunnel ", output, StringComparison.Ordinal);
    }
}
