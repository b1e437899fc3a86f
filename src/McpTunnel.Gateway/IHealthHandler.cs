using Microsoft.AspNetCore.Http;

namespace McpTunnel.Gateway;

/// <summary>
/// Answers the requests of the health listener (<c>appliance.health_addr</c>), a loopback socket the gateway's Kestrel
/// opens beside <c>listen_addr</c>. The gateway passes its own status with each request, so the handler needs no
/// reference to the gateway and the gateway none to the handler's owner.
/// </summary>
public interface IHealthHandler
{
    Task HandleAsync(HttpContext context, IGatewayStatus gateway);
}
