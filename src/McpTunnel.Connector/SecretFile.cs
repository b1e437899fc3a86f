namespace McpTunnel.Connector;

/// <summary>
/// The connector's fallback for writing a token copy: a temporary file created 0600 beside the target, flushed
/// to disk, renamed over it. <c>run</c> passes the credentials library's AtomicFile instead (it also syncs the
/// directory); this one keeps the connector free of that dependency.
/// </summary>
internal static class SecretFile
{
    public static void Write(string path, string content)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
