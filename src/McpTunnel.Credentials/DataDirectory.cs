namespace McpTunnel.Credentials;

/// <summary>
/// The credential directory, laid out exactly like the setup component's <c>dir:</c> output (spec 4.4), so an
/// existing Compose <c>data/</c> directory can be moved in unchanged. The directory is 0700 and every file
/// 0600, owned by the user that runs setup (which should be the service user).
/// </summary>
public sealed class DataDirectory
{
    public const string TunnelToken = "tunnel-token";
    public const string TunnelDomain = "tunnel-domain";
    public const string TunnelId = "tunnel-id";
    public const string CaCertificate = "ca.crt";
    public const string CaKey = "ca.key";
    public const string ServerCertificate = "tls.crt";
    public const string ServerKey = "tls.key";

    /// <summary>The last applied <c>--token-version</c> (spec open question 19).</summary>
    public const string TokenVersion = "token-version";

    /// <summary>What setup needs to finish an interrupted run safely (see <see cref="SetupState"/>).</summary>
    public const string State = "setup-state.json";

    public const string LockFile = ".setup.lock";

    /// <summary>The packaged appliance's data directory.</summary>
    public const string DefaultPath = "/var/lib/mcp-tunnel";

    public DataDirectory(string path) => Path = System.IO.Path.GetFullPath(path);

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public bool Exists(string name) => System.IO.File.Exists(File(name));

    public string? Read(string name) => Exists(name) ? System.IO.File.ReadAllText(File(name)) : null;

    /// <summary>Reads a one-line value file (tunnel-id, tunnel-domain, token-version) without its newline.</summary>
    public string? ReadValue(string name) => Read(name)?.Trim() is { Length: > 0 } value ? value : null;

    public void Write(string name, string content) => AtomicFile.Write(File(name), content);

    public void WriteValue(string name, string value) => Write(name, value + "\n");

    /// <summary>
    /// Creates the directory with mode 0700 if needed, and tightens an existing one. Refuses root writing into a
    /// directory another user owns (the package's <c>mcp-tunnel</c>): the files would be root's, 0600, and the
    /// service could not read them.
    /// </summary>
    public void Ensure()
    {
        RefuseForeignOwner(FileOwner.EffectiveUserId, FileOwner.Of(Path));
        if (!Directory.Exists(Path))
        {
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        else
        {
            System.IO.File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        AtomicFile.CleanTemporaryFiles(Path);
    }

    internal void RefuseForeignOwner(uint caller, uint? owner)
    {
        if (caller == 0 && owner is { } uid && uid != 0)
        {
            var name = FileOwner.UserName(uid) ?? uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new CredentialsException(
                $"{Path} belongs to {name} (uid {uid}) but this command runs as root: the files it writes would be root's and " +
                $"unreadable for the service. Run it as the directory's owner, e.g. `sudo -u {name} mcp-tunnel ...` with the same arguments");
        }
    }

    /// <summary>
    /// Takes the directory's lock for the whole run: a second <c>setup init</c> (or a renewal) on the same
    /// directory fails at once instead of interleaving API calls and writes. The OS releases it when the
    /// process dies, so a killed run never leaves a stale lock.
    /// </summary>
    public IDisposable Lock()
    {
        try
        {
            return new FileStream(File(LockFile), new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = AtomicFile.OwnerOnly,
            });
        }
        catch (IOException ex)
        {
            throw new CredentialsException($"{Path} is in use by another mcp-tunnel setup or renewal ({ex.Message}); wait for it to finish", ex);
        }
    }
}

/// <summary>A credentials operation failed; the message says what to check.</summary>
public class CredentialsException : Exception
{
    public CredentialsException(string message) : base(message) { }

    public CredentialsException(string message, Exception inner) : base(message, inner) { }
}
