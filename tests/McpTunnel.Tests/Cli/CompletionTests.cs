using System.Diagnostics;
using McpTunnel.Commands;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Cli;

/// <summary>The shipped completion scripts, run by the shells themselves.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    private static async Task<(int Code, string Output)> ShellAsync(string shell, string script)
    {
        var start = new ProcessStartInfo(shell) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{shell} did not finish within 30 s");
        }

        return (process.ExitCode, await output + await error);
    }

    /// <summary>What bash offers after <paramref name="line"/> (the last word is the one being completed).</summary>
    private async Task<string[]> BashCompleteAsync(string line)
    {
        var script = _directory.Write("mcp-tunnel.bash", CompletionScript.Bash(Commands.Cli.Build()));
        var words = line.Split(' ');
        var (code, output) = await ShellAsync("bash", $"""
            cd '{_directory.Path}'
            source '{script}'
            COMP_WORDS=({string.Join(' ', words.Select(w => $"'{w}'"))})
            COMP_CWORD={words.Length - 1}
            _mcp_tunnel
            printf '%s\n' "${"{"}COMPREPLY[@]{"}"}"
            complete -p mcp-tunnel >&2
            """);
        Assert.True(code == 0, output);
        Assert.Contains("complete -F _mcp_tunnel mcp-tunnel", output, StringComparison.Ordinal);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("complete ", StringComparison.Ordinal)).ToArray();
    }

    [Theory]
    [InlineData("mcp-tunnel ", new[] { "run", "gateway", "config", "setup", "cert", "token", "probe", "doctor", "demo", "completion", "version" })]
    [InlineData("mcp-tunnel ce", new[] { "cert" })]
    [InlineData("mcp-tunnel cert ", new[] { "init", "renew", "inspect" })]
    [InlineData("mcp-tunnel setup re", new[] { "renew-cert" })]
    [InlineData("mcp-tunnel gateway --log-format ", new[] { "text", "json" })]
    [InlineData("mcp-tunnel setup init --server-key ", new[] { "ecdsa-p256", "rsa-4096", "rsa-2048" })]
    [InlineData("mcp-tunnel doctor --o", new[] { "--offline" })]
    [InlineData("mcp-tunnel token set --", new[] { "--output", "--help" })]
    [InlineData("mcp-tunnel gateway --config x.yaml --l", new[] { "--log-format" })]
    public async Task Bash_completes_commands_options_and_their_values(string line, string[] expected)
    {
        var offered = await BashCompleteAsync(line);
        Assert.Equal(expected.Order(), offered.Order());
    }

    [Fact]
    public async Task Bash_completes_file_and_directory_values_from_the_disk()
    {
        _directory.Write("config.yaml", "");
        Directory.CreateDirectory(_directory.File("credentials"));
        Assert.Equal(["config.yaml"], await BashCompleteAsync("mcp-tunnel run --config co"));
        Assert.Equal(["credentials"], await BashCompleteAsync("mcp-tunnel cert init --output cr"));
        Assert.Equal(["config.yaml"], await BashCompleteAsync("mcp-tunnel cert inspect co"));
        Assert.Empty(await BashCompleteAsync("mcp-tunnel gateway --tunnel-domain co"));
    }

    [SkippableFact]
    public async Task The_zsh_script_is_valid_zsh()
    {
        Skip.If(!File.Exists("/usr/bin/zsh") && !File.Exists("/bin/zsh"), "zsh is not installed");
        var script = _directory.Write("_mcp-tunnel", CompletionScript.Zsh(Commands.Cli.Build()));
        var (code, output) = await ShellAsync("zsh", $"zsh -n '{script}'");
        Assert.True(code == 0, output);
    }

    [Fact]
    public void The_zsh_script_describes_every_command()
    {
        var script = CompletionScript.Zsh(Commands.Cli.Build());
        Assert.StartsWith("#compdef mcp-tunnel\n", script, StringComparison.Ordinal);
        foreach (var command in Commands.Cli.Build().Subcommands)
        {
            Assert.Contains($"'{command.Name}:", script, StringComparison.Ordinal);
        }
    }

    public void Dispose() => _directory.Dispose();
}
