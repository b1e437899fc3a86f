using System.Diagnostics;

namespace McpTunnel.SystemTests.Infrastructure;

/// <summary>Runs a host command and returns its exit code and output (both streams read fully).</summary>
public static class Shell
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> arguments, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        // Test packages are thrown away: cheap compression keeps the package builds short.
        start.Environment["DEB_XZ_LEVEL"] = "1";
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish in time");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static Task<Result> BashAsync(string script, TimeSpan? timeout = null) => RunAsync("bash", ["-c", script], timeout: timeout);
}
