namespace McpTunnel.Connector;

/// <summary>Where the tunnel token comes from, in the order <c>run</c> looks for it.</summary>
public sealed record TokenSource(string Path, string Description)
{
    /// <summary>
    /// Set when <see cref="Path"/> is a copy made for cloudflared (from <c>TUNNEL_TOKEN</c>): the supervisor writes it
    /// (0600) just before each start and deletes it when that cloudflared has exited, so the secret is on disk only
    /// while a child may need it.
    /// </summary>
    public string? Value { get; init; }

    /// <summary>
    /// Where a rotated token is written when that is not <see cref="Path"/>: a systemd credential is a copy taken at
    /// start, and setup init or token set rewrite the data directory's file it was loaded from. This is the file to
    /// watch, and the new token is taken from it. Null: rotations land at <see cref="Path"/> itself.
    /// </summary>
    public TokenSource? RotatedAt { get; init; }

    /// <summary>The file whose changes mean a new token.</summary>
    public TokenSource Watched => RotatedAt ?? this;

    /// <summary>
    /// <c>$CREDENTIALS_DIRECTORY/tunnel-token</c> under systemd (LoadCredential=), else the data directory's
    /// <c>tunnel-token</c>; null when neither exists (the caller may then use <c>TUNNEL_TOKEN</c>).
    /// </summary>
    public static TokenSource? Find(string dataDirectory, Func<string, string?> environment)
    {
        var file = System.IO.Path.Combine(dataDirectory, "tunnel-token");
        var inData = File.Exists(file) ? new TokenSource(file, file) : null;
        if (environment("CREDENTIALS_DIRECTORY") is { Length: > 0 } credentials && File.Exists(System.IO.Path.Combine(credentials, "tunnel-token")))
        {
            return new TokenSource(System.IO.Path.Combine(credentials, "tunnel-token"), "systemd credential tunnel-token") { RotatedAt = inData };
        }

        return inData;
    }
}
