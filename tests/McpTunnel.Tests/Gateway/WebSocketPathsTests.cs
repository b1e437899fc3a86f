using System.Net;
using System.Net.WebSockets;
using McpTunnel.Tests.Infrastructure;

namespace McpTunnel.Tests.Gateway;

/// <summary><c>appliance.websocket_paths</c> (docs/configuration.md): only upgrades on the listed paths are accepted; others get 404.</summary>
public sealed class WebSocketPathsTests
{
    private static async Task<(HttpStatusCode Status, WebSocketState State)> UpgradeAsync(GatewayHarness gateway, string path)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await socket.ConnectAsync(new UriBuilder(gateway.WebSocketUri) { Path = path }.Uri, timeout.Token);
        }
        catch (WebSocketException)
        {
            // The status is in HttpStatusCode; the state says the upgrade did not happen.
        }

        return (socket.HttpStatusCode, socket.State);
    }

    [Fact]
    public async Task An_upgrade_on_a_path_not_in_the_list_gets_404_and_one_on_a_listed_path_is_accepted()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000", "appliance:\n  websocket_paths: [\"/tunnel\", \"/other\"]");

        Assert.Equal((HttpStatusCode.NotFound, WebSocketState.Closed), await UpgradeAsync(gateway, "/"));
        Assert.Equal((HttpStatusCode.NotFound, WebSocketState.Closed), await UpgradeAsync(gateway, "/tunnel/"));
        Assert.Equal((HttpStatusCode.NotFound, WebSocketState.Closed), await UpgradeAsync(gateway, "/Tunnel"));
        Assert.Equal((HttpStatusCode.SwitchingProtocols, WebSocketState.Open), await UpgradeAsync(gateway, "/tunnel"));
        Assert.Equal((HttpStatusCode.SwitchingProtocols, WebSocketState.Open), await UpgradeAsync(gateway, "/other"));
        Assert.Equal(2, gateway.Server.Metrics.WebSocketsTotal);
    }

    [Fact]
    public async Task Without_a_list_an_upgrade_on_any_path_is_accepted()
    {
        await using var gateway = await GatewayHarness.StartAsync("echo: http://10.0.0.5:9000");

        Assert.Equal((HttpStatusCode.SwitchingProtocols, WebSocketState.Open), await UpgradeAsync(gateway, "/anything/at/all"));
    }
}
