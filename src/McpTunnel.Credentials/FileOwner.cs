using System.Runtime.InteropServices;

namespace McpTunnel.Credentials;

/// <summary>Who owns a file, and who we are: .NET has no API for either.</summary>
internal static partial class FileOwner
{
    public static uint EffectiveUserId => Native.geteuid();

    /// <summary>The owner's uid, or null when the path does not exist or cannot be examined.</summary>
    public static unsafe uint? Of(string path)
    {
        // statx's layout is the same on every architecture (unlike struct stat): stx_uid is at offset 20.
        var buffer = stackalloc byte[256];
        return Native.statx(AtFdCwd, path, 0, StatxUid, buffer) == 0 ? *(uint*)(buffer + 20) : null;
    }

    /// <summary>The name <c>/etc/passwd</c> gives a uid, or null.</summary>
    public static string? UserName(uint uid)
    {
        try
        {
            var id = uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var fields = line.Split(':');
                if (fields.Length > 2 && fields[2] == id)
                {
                    return fields[0];
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Fall back to the number.
        }

        return null;
    }

    private const int AtFdCwd = -100;
    private const uint StatxUid = 0x8;

    private static unsafe partial class Native
    {
        [LibraryImport("libc")]
        public static partial uint geteuid();

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
    }
}
