using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Routing;

namespace McpTunnel.Gateway;

/// <summary>
/// What a running gateway tells the operator-facing checks (<c>/readyz</c> and <c>/metrics</c> of the health
/// listener): read only, so nothing that reads it can change the gateway. <see cref="GatewayServer"/> implements it
/// and hands itself to the <see cref="IHealthHandler"/> it hosts; a test can hand in a status of its own.
/// </summary>
public interface IGatewayStatus
{
    /// <summary>The routes requests are resolved against now (after reloads).</summary>
    RouteTable Routes { get; }

    /// <summary>When the certificate served now expires.</summary>
    DateTimeOffset CertificateNotAfter { get; }

    /// <summary>Certificate pairs reloaded since start.</summary>
    int CertificateReloads { get; }

    /// <summary>The data path's counters (their writers are internal to the gateway).</summary>
    GatewayMetrics Metrics { get; }

    /// <summary>The addresses the WebSocket listener is bound to, with real ports; empty before start.</summary>
    IReadOnlyList<Uri> ListenUris { get; }
}
