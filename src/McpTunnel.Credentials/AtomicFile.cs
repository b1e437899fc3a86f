using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace McpTunnel.Credentials;

/// <summary>
/// Writes a file so that readers see either the old content or the new, never a part, and a crash leaves
/// no secret behind in a world-readable place (after tailscale's atomicfile):
/// a temporary file beside the target created with mode 0600, written, fsynced, renamed over the target,
/// then the directory fsynced so the rename itself survives a power cut.
/// </summary>
public static partial class AtomicFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Write(string path, string content) => Write(path, Encoding.UTF8.GetBytes(content));

    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var temp = TemporaryPathFor(path);
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = OwnerOnly,
            }))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        SyncDirectory(directory);
    }

    /// <summary>Makes a completed rename durable (fsync of the directory); best effort where unsupported.</summary>
    public static void SyncDirectory(string directory)
    {
        var fd = Native.open(directory, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_CLOEXEC);
        if (fd < 0)
        {
            return;
        }

        _ = Native.fsync(fd);
        _ = Native.close(fd);
    }

    /// <summary>What makes a temporary file's name ours: <c>.NAME.mcp-tunnel-tmp.GUID.tmp</c>.</summary>
    private const string TemporaryMarker = ".mcp-tunnel-tmp.";

    /// <summary>A fresh temporary name beside <paramref name="path"/>, recognisable by <see cref="CleanTemporaryFiles"/>.</summary>
    internal static string TemporaryPathFor(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}{TemporaryMarker}{Guid.NewGuid():N}.tmp");
    }

    [GeneratedRegex(@"^\..+\.mcp-tunnel-tmp\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TemporaryName();

    /// <summary>
    /// Removes temporary files a killed writer of ours left behind: only names <see cref="Write(string, ReadOnlySpan{byte})"/>
    /// makes, and only files owned by the user running this. The directory may hold other programs' files.
    /// </summary>
    public static void CleanTemporaryFiles(string directory)
    {
        var self = FileOwner.EffectiveUserId;
        foreach (var file in Directory.EnumerateFiles(directory, $".*{TemporaryMarker}*.tmp"))
        {
            if (TemporaryName().IsMatch(Path.GetFileName(file)) && FileOwner.Of(file) == self)
            {
                TryDelete(file);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Nothing more can be done; the name is random and the mode 0600.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }

    private static partial class Native
    {
        public const int O_RDONLY = 0;
        public const int O_DIRECTORY = 0x10000;
        public const int O_CLOEXEC = 0x80000;

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int fsync(int fd);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int close(int fd);
    }
}
