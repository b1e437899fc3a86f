using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Connector;

namespace McpTunnel.Operations.Doctor;

/// <summary>What <c>doctor</c> checks, and with what.</summary>
public sealed record DoctorOptions
{
    /// <summary>The configuration file, as the operator named it (for the messages).</summary>
    public required string ConfigPath { get; init; }

    /// <summary>The file loaded as the service loads it (the executable's appliance load, stored tunnel domain included).</summary>
    public required ConfigLoadResult Config { get; init; }

    /// <summary>
    /// How <c>run</c> sets cloudflared up for a configuration, so the command line checked is exactly the one
    /// <c>run</c> starts (the executable hands in its own setup).
    /// </summary>
    public required Func<GatewayConfig, CloudflaredOptions> Cloudflared { get; init; }

    /// <summary>host:port of the Claude API, checked with a TCP connect.</summary>
    public required string ApiTarget { get; init; }

    /// <summary>host:port of the tunnel edge, checked with a TCP connect.</summary>
    public required string EdgeTarget { get; init; }

    /// <summary>The MCP endpoint path each route's <c>initialize</c> is sent to.</summary>
    public string McpPath { get; init; } = "/mcp";

    /// <summary>The limit of each outbound check.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Skip the outbound checks (<c>--offline</c>); <c>appliance.offline</c> does the same.</summary>
    public bool Offline { get; init; }

    /// <summary>The process environment (the token's sources: systemd credentials, <c>TUNNEL_TOKEN</c>).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    /// <summary>
    /// Replaces DNS for upstream names, handed to the gateway's upstream client exactly as the gateway takes it
    /// (<c>GatewayServer.Create</c>'s resolver); null asks the system resolver.
    /// </summary>
    public Func<string, CancellationToken, Task<IPAddress[]>>? UpstreamResolver { get; init; }

    /// <summary>The clock certificate validity is judged by.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}
