using System.Text;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;

namespace McpTunnel.SystemTests.Infrastructure;

/// <summary>
/// A Debian 12 container booted with systemd as PID 1 (spec/systemd-packaging.md B.3): no --privileged (it fails
/// on these hosts), all capabilities but CAP_SYS_RESOURCE, the host's cgroups, no network but loopback, and
/// "/" made rshared before systemd starts (without it LoadCredential= hands the service an empty directory).
/// </summary>
public sealed class SystemdContainer : IAsyncDisposable
{
    private readonly IContainer _container;
    private readonly StringBuilder _transcript = new();

    private SystemdContainer(IContainer container) => _container = container;

    /// <summary>Every command run and its output, for failure messages.</summary>
    public string Transcript => _transcript.ToString();

    public static async Task<SystemdContainer> StartAsync(string image)
    {
        var container = new ContainerBuilder(image)
            .WithImagePullPolicy(_ => false)
            .WithHostname("mcp-tunnel-test")
            .WithEntrypoint("/bin/sh", "-c", "mount --make-rshared / && exec /lib/systemd/systemd")
            .WithTmpfsMount("/run")
            .WithTmpfsMount("/run/lock")
            .WithTmpfsMount("/tmp")
            .WithBindMount("/sys/fs/cgroup", "/sys/fs/cgroup", AccessMode.ReadWrite)
            .WithCreateParameterModifier(parameters =>
            {
                parameters.HostConfig ??= new Docker.DotNet.Models.HostConfig();
                parameters.HostConfig.NetworkMode = "none";
                parameters.HostConfig.CgroupnsMode = "host";
                parameters.HostConfig.CapAdd = ["ALL"];
                parameters.HostConfig.CapDrop = ["SYS_RESOURCE"];
                parameters.HostConfig.SecurityOpt = ["seccomp=unconfined", "apparmor=unconfined"];
                // The CLI's --security-opt systempaths=unconfined, in API terms.
                parameters.HostConfig.MaskedPaths = [];
                parameters.HostConfig.ReadonlyPaths = [];
                parameters.HostConfig.DeviceCgroupRules = ["c *:* rmw", "b *:* rmw"];
                parameters.StopSignal = "SIGRTMIN+3";
            })
            .WithWaitStrategy(Wait.ForUnixContainer().UntilCommandIsCompleted("sh", "-c", "systemctl is-system-running | grep -Eq '^(running|degraded)$'"))
            .Build();
        await container.StartAsync();
        var booted = new SystemdContainer(container);
        // The hostname resolves (sudo looks it up), as on a real host.
        await booted.ShAsync("echo '127.0.1.1 mcp-tunnel-test' >> /etc/hosts");
        return booted;
    }

    /// <summary>
    /// Boots a container, runs <paramref name="steps"/> against it and removes it; a failure carries every command
    /// run and its output, so a red CI run says which step broke and what the host printed.
    /// </summary>
    public static async Task RunAsync(string image, Func<SystemdContainer, Task> steps)
    {
        await using var host = await StartAsync(image);
        try
        {
            await steps(host);
        }
        catch (Exception ex) when (ex is not SkipException)
        {
            throw new Xunit.Sdk.XunitException($"{ex.Message}\n--- transcript\n{host.Transcript}", ex);
        }
    }

    /// <summary>Runs a bash script as root and returns its exit code and output.</summary>
    public async Task<ExecResult> ExecAsync(string script)
    {
        var result = await _container.ExecAsync(["bash", "-c", script]);
        lock (_transcript)
        {
            _transcript.Append("$ ").AppendLine(script.Trim()).Append(result.Stdout).Append(result.Stderr).AppendLine($"[exit {result.ExitCode}]");
        }

        return result;
    }

    /// <summary>Runs a bash script that must succeed (set -e); returns its standard output.</summary>
    public async Task<string> ShAsync(string script)
    {
        var result = await ExecAsync("set -euo pipefail\n" + script);
        Assert.True(result.ExitCode == 0, $"command failed with exit {result.ExitCode}:\n{script}\n--- stdout\n{result.Stdout}\n--- stderr\n{result.Stderr}");
        return result.Stdout;
    }

    /// <summary>Polls a bash condition until it succeeds; fails with its last output after the timeout.</summary>
    public async Task WaitUntilAsync(string condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        ExecResult last;
        do
        {
            last = await _container.ExecAsync(["bash", "-c", condition]);
            if (last.ExitCode == 0)
            {
                return;
            }

            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"{what}: not true after {timeout.TotalSeconds} s\n{condition}\n{last.Stdout}{last.Stderr}\n--- journal\n{(await ExecAsync("journalctl --no-pager -n 60")).Stdout}");
    }

    public Task CopyAsync(string hostFile, string containerPath) =>
        _container.CopyAsync(File.ReadAllBytes(hostFile), containerPath, fileMode: UnixFileModes.UserRead | UnixFileModes.UserWrite | UnixFileModes.GroupRead | UnixFileModes.OtherRead);

    public Task CopyTextAsync(string content, string containerPath) =>
        _container.CopyAsync(Encoding.UTF8.GetBytes(content), containerPath, fileMode: UnixFileModes.UserRead | UnixFileModes.UserWrite);

    public async ValueTask DisposeAsync() => await _container.DisposeAsync();
}
