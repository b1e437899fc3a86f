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
    public async Task The_aot_binary_prints_its_version()
    {
        Skip.If(Binary is null, "artifacts/bin/mcp-tunnel has not been published");
        var (code, output) = await RunAsync("version");
        Assert.Equal(0, code);
        Assert.StartsWith("mcp-tunnel ", output, StringComparison.Ordinal);
    }
}
