using System.Security.Cryptography;
using McpTunnel.Credentials.Api;

namespace McpTunnel.Credentials;

/// <summary>
/// <c>setup init</c>, in the setup component's order (spec 4.5): credentials, tunnel, CA, server certificate,
/// token; every file written atomically as soon as it is known.
/// </summary>
/// <remarks>
/// Crash safety, so that a run killed at any point and run again ends complete with no second tunnel and no
/// second CA registered:
/// 1. Before creating a tunnel the run records a unique display name; a later run that finds no
///    <c>tunnel-id</c> but that record looks the tunnel up by name instead of creating another.
/// 2. The CA is written to disk before it is registered. Registration is recorded with the tunnel ID and the
///    CA's fingerprint; an unrecorded CA is first looked for among the tunnel's certificates (by fingerprint)
///    and registered only if absent.
/// 3. The token version is written only after the token, so an interrupted rotation is simply repeated.
/// </remarks>
public sealed class SetupInit(TunnelsApiClient api, SetupIdentity identity, TimeProvider? time = null)
{
    private readonly CertificateFactory _factory = new(time);

    /// <summary>Called after each durable step with its name; tests use it to simulate a crash there.</summary>
    public Func<string, ValueTask>? AfterStep { get; init; }

    public async Task<SetupInitResult> RunAsync(SetupInitOptions options, Action<string> progress, CancellationToken cancellationToken)
    {
        var output = options.Output;
        if (output.Ensure() is { } note)
        {
            progress(note);
        }

        using var directoryLock = output.Lock();
        var state = SetupState.Load(output);
        var storedTunnelId = output.ReadValue(DataDirectory.TunnelId);

        // 1. Credentials.
        if (identity is SetupIdentity.ApiKey key)
        {
            api.UseApiKey(key.Token);
            progress("authenticating with the Tunnels API key from API_TOKEN");
        }
        else
        {
            var federation = (SetupIdentity.Federation)identity;
            await api.ExchangeAsync(federation.ToRequest(), cancellationToken).ConfigureAwait(false);
            progress($"exchanged the workload identity token (federation rule {federation.RuleId})");
        }

        await StepAsync("authenticated").ConfigureAwait(false);

        // 2. Tunnel: a given ID that differs from the stored one switches tunnels; otherwise the stored ID wins.
        Tunnel tunnel;
        var created = false;
        var wanted = options.TunnelId ?? storedTunnelId;
        if (wanted is not null)
        {
            tunnel = await api.GetTunnelAsync(wanted, cancellationToken).ConfigureAwait(false);
            if (tunnel.ArchivedAt is not null)
            {
                throw new CredentialsException($"tunnel {tunnel.Id} is archived and can never carry traffic again; pass another --tunnel-id, or remove {output.File(DataDirectory.TunnelId)} to create a new tunnel");
            }

            progress($"using tunnel {tunnel.Id} ({tunnel.Domain})");
        }
        else
        {
            (tunnel, created) = await CreateTunnelOnceAsync(options, state, cancellationToken).ConfigureAwait(false);
            progress(created ? $"created tunnel {tunnel.Id} ({tunnel.Domain})" : $"found tunnel {tunnel.Id} created by an interrupted run");
        }

        var tunnelChanged = storedTunnelId is not null && storedTunnelId != tunnel.Id;
        output.WriteValue(DataDirectory.TunnelId, tunnel.Id);
        output.WriteValue(DataDirectory.TunnelDomain, tunnel.Domain);
        if (state.PendingTunnelDisplayName is not null)
        {
            state = state with { PendingTunnelDisplayName = null };
            state.Save(output);
        }

        await StepAsync("tunnel").ConfigureAwait(false);

        // 3. CA: new only when the output has none or the tunnel changed (spec 4.2).
        var caGenerated = false;
        if (tunnelChanged || !output.Exists(DataDirectory.CaCertificate) || !output.Exists(DataDirectory.CaKey))
        {
            var ca = _factory.CreateCertificateAuthority();
            output.Write(DataDirectory.CaKey, ca.PrivateKeyPem);
            output.Write(DataDirectory.CaCertificate, ca.CertificatePem);
            state = state with { CaRegisteredTunnelId = null, CaRegisteredFingerprint = null };
            state.Save(output);
            caGenerated = true;
            progress(tunnelChanged ? $"generated a new CA for tunnel {tunnel.Id} (the tunnel changed from {storedTunnelId})" : "generated a CA (ECDSA P-256, five years)");
            await StepAsync("ca-written").ConfigureAwait(false);
        }

        var caPem = output.Read(DataDirectory.CaCertificate)!;
        var fingerprint = Fingerprint(caPem);
        var registered = false;
        if (state.CaRegisteredTunnelId != tunnel.Id || state.CaRegisteredFingerprint != fingerprint)
        {
            registered = await RegisterCaOnceAsync(tunnel.Id, caPem, fingerprint, cancellationToken).ConfigureAwait(false);
            state = state with { CaRegisteredTunnelId = tunnel.Id, CaRegisteredFingerprint = fingerprint };
            state.Save(output);
            progress(registered ? $"registered the CA on the tunnel (sha256 {fingerprint})" : $"the CA is already registered on the tunnel (sha256 {fingerprint})");
            await StepAsync("ca-registered").ConfigureAwait(false);
        }
        else
        {
            progress($"reusing the registered CA (sha256 {fingerprint})");
        }

        // 4. Server certificate, signed by the CA, for the tunnel's domain.
        var caPair = new IssuedCertificate(caPem, output.Read(DataDirectory.CaKey)!);
        var server = _factory.CreateServerCertificate(caPair, tunnel.Domain, options.CertDuration, options.ServerKey);
        output.Write(DataDirectory.ServerKey, server.PrivateKeyPem);
        output.Write(DataDirectory.ServerCertificate, server.CertificatePem);
        var notAfter = CertificateInspector.NotAfter(server.CertificatePem);
        progress($"issued the server certificate for *.{tunnel.Domain} ({Describe(options.ServerKey)}, valid until {notAfter:yyyy-MM-dd})");
        await StepAsync("server-certificate").ConfigureAwait(false);

        // 5. Token: rotate only when --token-version changed; an unchanged or first version reveals.
        var storedVersion = output.ReadValue(DataDirectory.TokenVersion);
        var rotate = options.TokenVersion is not null && storedVersion is not null && options.TokenVersion != storedVersion && !tunnelChanged && !created;
        var token = rotate
            ? await api.RotateTokenAsync(tunnel.Id, $"mcp-tunnel setup: token version {storedVersion} -> {options.TokenVersion}", cancellationToken).ConfigureAwait(false)
            : await api.RevealTokenAsync(tunnel.Id, cancellationToken).ConfigureAwait(false);
        output.Write(DataDirectory.TunnelToken, token.Value.Trim() + "\n");
        await StepAsync("token").ConfigureAwait(false);
        if (options.TokenVersion is not null)
        {
            output.WriteValue(DataDirectory.TokenVersion, options.TokenVersion);
        }

        progress(rotate
            ? $"rotated the tunnel token (version {storedVersion} -> {options.TokenVersion}); restart cloudflared on every host with the new tunnel-token"
            : "wrote the tunnel token");
        await StepAsync("done").ConfigureAwait(false);

        return new SetupInitResult(tunnel.Id, tunnel.Domain, created, caGenerated, registered, fingerprint, notAfter, rotate, options.TokenVersion ?? storedVersion);
    }

    private async ValueTask StepAsync(string name)
    {
        if (AfterStep is not null)
        {
            await AfterStep(name).ConfigureAwait(false);
        }
    }

    private async Task<(Tunnel Tunnel, bool Created)> CreateTunnelOnceAsync(SetupInitOptions options, SetupState state, CancellationToken cancellationToken)
    {
        if (state.PendingTunnelDisplayName is { } pending)
        {
            var existing = (await api.ListTunnelsAsync(cancellationToken).ConfigureAwait(false))
                .FirstOrDefault(t => t.DisplayName == pending && t.ArchivedAt is null);
            if (existing is not null)
            {
                return (existing, false);
            }
        }

        var displayName = $"{options.DisplayNamePrefix} {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        if (displayName.Length > 255)
        {
            displayName = displayName[^255..];
        }

        (state with { PendingTunnelDisplayName = displayName }).Save(options.Output);
        await StepAsync("tunnel-intent").ConfigureAwait(false);
        try
        {
            var tunnel = await api.CreateTunnelAsync(displayName, cancellationToken).ConfigureAwait(false);
            await StepAsync("tunnel-created").ConfigureAwait(false);
            return (tunnel, true);
        }
        catch (TunnelsApiException ex) when (ex.IsTransient)
        {
            // The API may have created it before failing: look before trying again.
            var existing = (await api.ListTunnelsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(t => t.DisplayName == displayName);
            return existing is not null ? (existing, true) : (await api.CreateTunnelAsync(displayName, cancellationToken).ConfigureAwait(false), true);
        }
    }

    private async Task<bool> RegisterCaOnceAsync(string tunnelId, string caPem, string fingerprint, CancellationToken cancellationToken)
    {
        async Task<bool> AlreadyThere() =>
            (await api.ListCertificatesAsync(tunnelId, cancellationToken).ConfigureAwait(false))
                .Any(c => c.ArchivedAt is null && string.Equals(c.Fingerprint, fingerprint, StringComparison.OrdinalIgnoreCase));

        if (await AlreadyThere().ConfigureAwait(false))
        {
            return false;
        }

        try
        {
            await api.CreateCertificateAsync(tunnelId, caPem, cancellationToken).ConfigureAwait(false);
        }
        catch (TunnelsApiException ex) when (ex.IsTransient)
        {
            if (!await AlreadyThere().ConfigureAwait(false))
            {
                await api.CreateCertificateAsync(tunnelId, caPem, cancellationToken).ConfigureAwait(false);
            }
        }

        return true;
    }

    /// <summary>Lower-case hex SHA-256 of the DER, as the API reports certificate fingerprints.</summary>
    public static string Fingerprint(string certificatePem)
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(certificatePem);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
    }

    internal static string Describe(KeyAlgorithm key) => key switch
    {
        KeyAlgorithm.Rsa4096 => "RSA 4096",
        KeyAlgorithm.Rsa2048 => "RSA 2048",
        _ => "ECDSA P-256",
    };
}
