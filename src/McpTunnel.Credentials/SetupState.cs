using System.Text.Json;
using System.Text.Json.Serialization;
using McpTunnel.Credentials.Api;

namespace McpTunnel.Credentials;

/// <summary>
/// What <c>setup init</c> records so that a run killed at any point can be repeated without creating a
/// second tunnel or registering a second CA (stored as <c>setup-state.json</c>, 0600, no secrets).
/// </summary>
public sealed record SetupState
{
    /// <summary>
    /// The display name sent with a tunnel creation that has not been confirmed yet. If the process dies
    /// after the API created the tunnel but before <c>tunnel-id</c> was written, the next run finds the tunnel
    /// by this name instead of creating another.
    /// </summary>
    [JsonPropertyName("pending_tunnel_display_name")]
    public string? PendingTunnelDisplayName { get; init; }

    /// <summary>The tunnel the current CA is known to be registered on.</summary>
    [JsonPropertyName("ca_registered_tunnel_id")]
    public string? CaRegisteredTunnelId { get; init; }

    /// <summary>The SHA-256 fingerprint (lower-case hex of the DER) of the registered CA.</summary>
    [JsonPropertyName("ca_registered_fingerprint")]
    public string? CaRegisteredFingerprint { get; init; }

    public static SetupState Load(DataDirectory directory)
    {
        var text = directory.Read(DataDirectory.State);
        if (text is null)
        {
            return new SetupState();
        }

        try
        {
            return JsonSerializer.Deserialize(text, ApiJsonContext.Default.SetupState) ?? new SetupState();
        }
        catch (JsonException ex)
        {
            throw new CredentialsException($"{directory.File(DataDirectory.State)} is not valid JSON ({ex.Message}); delete it and run setup again (the tunnel and CA are found again through the API)", ex);
        }
    }

    public void Save(DataDirectory directory) =>
        directory.Write(DataDirectory.State, JsonSerializer.Serialize(this, ApiJsonContext.Default.SetupState) + "\n");
}
