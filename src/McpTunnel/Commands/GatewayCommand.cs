using McpTunnel.Gateway;
using McpTunnel.Gateway.Tls;
using McpTunnel.Hosting;
using McpTunnel.Logging;
using McpTunnel.Operations;

namespace McpTunnel.Commands;

/// <summary><c>mcp-tunnel gateway</c>: the gateway alone, the role of the <c>mcp-proxy</c> container.</summary>
internal static class GatewayCommand
{
    public static async Task<int> RunAsync(string? configPath, string? tunnelDomain, LogFormat logFormat)
    {
        var config = ConfigFiles.Load(configPath, tunnelDomain, Console.Error);
        if (config is null)
        {
            return ExitCodes.Failure;
        }

        using var log = LogSetup.Create(logFormat, config.LogLevel);
        using var provider = LogSetup.Provider(log);
        using var signal = new ShutdownSignal();
        GatewayServer server;
        try
        {
            server = GatewayServer.Create(config, provider, certificateCheck: ServerCertificateAdvice.For(config));
        }
        catch (CertificateLoadException ex)
        {
            log.Error("cannot start: {Reason}", ex.Message);
            return ExitCodes.Failure;
        }

        await using (server.ConfigureAwait(false))
        {
            try
            {
                await server.StartAsync(signal.Token).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                log.Error("cannot listen on {Address}: {Reason}", config.ListenAddr.ToString(), ex.Message);
                return ExitCodes.Failure;
            }

            await signal.WaitAsync().ConfigureAwait(false);
            await server.StopAsync().ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }
}
