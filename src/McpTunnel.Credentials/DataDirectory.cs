namespace McpTunnel.Credentials;

/// <summary>
/// The credential directory, laid out exactly like the setup component's <c>dir:</c> output (spec 4.4), so an
/// existing Compose <c>data/</c> directory can be moved in unchanged. Every file is 0600, owned by the user that
/// runs setup (which should be the service user); a directory we create is 0700, one that exists is checked and
/// never re-moded (<see cref="Ensure"/>).
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

    /// <summary>
    /// Where the CA the edge trusts lies for a server certificate at <paramref name="serverCertificateFile"/>:
    /// <c>ca.crt</c> in the same directory, as setup writes them. <c>doctor</c>, <c>probe</c> and the gateway's
    /// certificate advice look for it there.
    /// </summary>
    public static string CaBeside(string serverCertificateFile) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(serverCertificateFile) ?? ".", CaCertificate);

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public bool Exists(string name) => System.IO.File.Exists(File(name));

    public string? Read(string name) => Exists(name) ? System.IO.File.ReadAllText(File(name)) : null;

    /// <summary>Reads a one-line value file (tunnel-id, tunnel-domain, token-version) without its newline.</summary>
    public string? ReadValue(string name) => Read(name)?.Trim() is { Length: > 0 } value ? value : null;

    public void Write(string name, string content) => AtomicFile.Write(File(name), content);

    public void WriteValue(string name, string value) => Write(name, value + "\n");

    /// <summary>
    /// Makes the directory ready for credentials. A missing one is created with mode 0700 (with any missing
    /// parents). An existing one is used as it is, never re-moded: <see cref="CheckExisting"/> refuses it when
    /// others could replace the files in it, and the note it returns says when others can list it. Temporary files
    /// a killed writer of ours left behind are removed; nothing else is.
    /// </summary>
    /// <returns>A note for the user when the directory can be listed by others, else null.</returns>
    public string? Ensure()
    {
        RefuseForeignOwner(FileOwner.EffectiveUserId, FileOwner.Of(Path));
        if (!Directory.Exists(Path))
        {
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return null;
        }

        var note = CheckExisting();
        AtomicFile.CleanTemporaryFiles(Path);
        return note;
    }

    /// <summary>
    /// Checks an existing directory before credentials are written into it, changing nothing. Refuses (with the
    /// fix) a directory another user owns, or one that group or others can write, sticky bit or not: they could
    /// plant or swap the files we read back (a CA key, the previous token) or hold the lock. A directory others
    /// can only list is accepted, with a note: the files themselves are 0600.
    /// </summary>
    public string? CheckExisting()
    {
        var caller = FileOwner.EffectiveUserId;
        var owner = FileOwner.Of(Path);
        RefuseForeignOwner(caller, owner);
        var mode = System.IO.File.GetUnixFileMode(Path);
        var octal = Convert.ToString((int)mode, 8).PadLeft(4, '0');
        if (owner is { } uid && uid != caller && caller != 0)
        {
            var name = FileOwner.UserName(uid) ?? uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new CredentialsException(
                $"{Path} belongs to {name} (uid {uid}), not to the user running this command: they could replace the credentials in it. " +
                "Use a directory of your own (a new path is created with mode 0700), or run the command as its owner");
        }

        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            throw new CredentialsException(
                $"{Path} is mode {octal}: {((mode & UnixFileMode.OtherWrite) != 0 ? "anyone" : "its group")} can create or replace files in it, so it cannot hold credentials; " +
                $"nothing was written. Use a directory only you can write (a new path is created with mode 0700), or `chmod 0700 {Path}` if it is yours alone");
        }

        return (mode & (UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute)) != 0
            ? $"note: {Path} is mode {octal}: others can see the names of the files in it (the files themselves are 0600); `chmod 0700 {Path}` hides them (mcp-tunnel doctor reports it)"
            : null;
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
