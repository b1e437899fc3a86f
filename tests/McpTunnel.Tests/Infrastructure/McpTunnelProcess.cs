using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// <c>mcp-tunnel</c> as a child process (the published AOT binary when the test command built it, else the managed
/// build), with an environment of the test's choosing and optionally its own process group (as a shell gives a
/// foreground job), so a test can send signals to it, or to its whole group as Ctrl-C does.
/// </summary>
public sealed partial class McpTunnelProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private readonly Process _process;

    private McpTunnelProcess(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <param name="args">Arguments after the binary, e.g. <c>run --config FILE</c>.</param>
    /// <param name="environment">Variables to set (null value: remove).</param>
    /// <param name="ownProcessGroup">Start it as the leader of a new process group (a shell's foreground job).</param>
    /// <param name="ignoredSignals">Shell trap list to ignore before exec, e.g. <c>HUP INT</c> (nohup, background job).</param>
    /// <param name="workingDirectory">A directory to start in, removed once entered (a working directory that no longer exists); null keeps the test's own.</param>
    public static McpTunnelProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, bool ownProcessGroup = false, string? ignoredSignals = null, string? workingDirectory = null)
    {
        var aot = Path.Combine(RepoRoot(), "artifacts", "bin", "mcp-tunnel");
        var useAot = File.Exists(aot) && Environment.GetEnvironmentVariable("MCP_TUNNEL_TEST_MANAGED") is null;
        string[] command = useAot ? [aot, .. args] : ["dotnet", Path.Combine(AppContext.BaseDirectory, "mcp-tunnel.dll"), .. args];
        var script = (ignoredSignals is null ? "" : $"trap '' {ignoredSignals}; ") + (workingDirectory is null ? "" : "cd \"$MCP_TUNNEL_TEST_CWD\" && rmdir \"$MCP_TUNNEL_TEST_CWD\"; ") + "exec \"$@\"";
        var start = new ProcessStartInfo(ownProcessGroup ? "setsid" : "bash") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var arg in (ownProcessGroup ? ["bash"] : Array.Empty<string>()).Concat(["-c", script, "mcp-tunnel-test"]).Concat(command))
        {
            start.ArgumentList.Add(arg);
        }

        // Not a systemd service even if the test runner is one (that would turn the setpriv tie off).
        start.Environment.Remove("INVOCATION_ID");
        if (workingDirectory is not null)
        {
            start.Environment["MCP_TUNNEL_TEST_CWD"] = workingDirectory;
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        return new McpTunnelProcess(Process.Start(start)!);
    }

    public static string RepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Appliance.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root");
    }

    /// <summary>Waits for <paramref name="text"/> in the output (30 s), failing early if the process exits.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.False(_process.HasExited && !Output.Contains(text, StringComparison.Ordinal), $"mcp-tunnel exited before \"{text}\":\n{Output}");
            Assert.True(DateTime.UtcNow < deadline, $"no \"{text}\" in the output:\n{Output}");
            await Task.Delay(50);
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    /// <summary>kill(2): a positive id for the process, a negative one for its process group.</summary>
    public static int Signal(int pid, int signal) => Kill(pid, signal);

    /// <summary>Reads the stand-in's record (FAKE_CLOUDFLARED_RECORD) once it exists.</summary>
    public static async Task<JsonObject> RecordAsync(string path, Func<JsonObject, bool>? until = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (File.Exists(path) && JsonNode.Parse(await File.ReadAllTextAsync(path, timeout.Token))!.AsObject() is var record && (until is null || until(record)))
            {
                return record;
            }

            await Task.Delay(50, timeout.Token);
        }
    }

    /// <summary>GET on a loopback health listener.</summary>
    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(int port, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>getpgid(2).</summary>
    [LibraryImport("libc", EntryPoint = "getpgid", SetLastError = true)]
    public static partial int ProcessGroup(int pid);
}
