using System.Security.Cryptography;

namespace McpTunnel.Run;

/// <summary>
/// Notices a token rotation: every <see cref="PollInterval"/> it hashes the token file and reports a change of
/// content. Polling, not inotify: under systemd the file is a credential's source that <c>setup init</c> and
/// <c>token set</c> replace by rename, and a rename-over is what an inotify watch on the old inode misses.
/// A file that cannot be read (mid-replacement, or gone) is no change; the first readable content becomes the
/// baseline, so only a difference between two readable contents counts.
/// </summary>
internal sealed class TokenWatcher : IDisposable
{
    /// <summary>How soon a rotation is noticed; docs/operations.md promises "within 10 s".</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(10);

    private readonly string _path;
    private readonly Action _changed;
    private readonly ITimer _timer;
    private readonly Lock _sync = new();
    private byte[]? _last;

    public TokenWatcher(string path, TimeProvider time, Action changed)
    {
        _path = path;
        _changed = changed;
        _last = Hash(path);
        _timer = time.CreateTimer(_ => Check(), null, PollInterval, PollInterval);
    }

    private void Check()
    {
        var current = Hash(_path);
        lock (_sync)
        {
            if (_last is null)
            {
                _last = current;
                return;
            }

            if (current is null || current.AsSpan().SequenceEqual(_last))
            {
                return;
            }

            _last = current;
        }

        _changed();
    }

    private static byte[]? Hash(string file)
    {
        try
        {
            return SHA256.HashData(File.ReadAllBytes(file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose() => _timer.Dispose();
}
