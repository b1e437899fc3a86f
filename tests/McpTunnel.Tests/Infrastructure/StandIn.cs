using System.Text;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// The cloudflared stand-in (tests/FakeCloudflared) and executable wrappers that start it with test knobs
/// (<c>FAKE_CLOUDFLARED_*</c>), so the product starts "cloudflared" exactly as it starts the real one.
/// </summary>
public static class StandIn
{
    public static string Binary { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var bin = Path.Combine(directory.FullName, "tests", "FakeCloudflared", "bin");
            if (Directory.Exists(bin))
            {
                return Directory.EnumerateFiles(bin, "fake-cloudflared", SearchOption.AllDirectories).OrderByDescending(File.GetLastWriteTimeUtc).First();
            }
        }

        throw new FileNotFoundException("tests/FakeCloudflared has not been built");
    }

    /// <summary>
    /// Writes <paramref name="name"/> in <paramref name="directory"/>: a shell script that exports the knobs, runs
    /// <paramref name="preamble"/> (e.g. <c>trap '' INT</c>) and execs the stand-in. Rewritten atomically, so a
    /// running supervisor sees the new "binary" as a whole.
    /// </summary>
    public static string Wrapper(TempDirectory directory, IReadOnlyDictionary<string, string>? knobs = null, string? preamble = null, string name = "cloudflared")
    {
        var script = new StringBuilder("#!/bin/sh\n");
        foreach (var (key, value) in knobs ?? new Dictionary<string, string>())
        {
            script.Append("export ").Append(key).Append("='").Append(value.Replace("'", "'\\''", StringComparison.Ordinal)).Append("'\n");
        }

        if (preamble is not null)
        {
            script.Append(preamble).Append('\n');
        }

        script.Append("exec ").Append(Binary).Append(" \"$@\"\n");
        var path = directory.File(name);
        var temp = path + ".new";
        File.WriteAllText(temp, script.ToString());
        File.SetUnixFileMode(temp, (UnixFileMode)0b111_000_000);
        File.Move(temp, path, overwrite: true);
        return path;
    }
}
