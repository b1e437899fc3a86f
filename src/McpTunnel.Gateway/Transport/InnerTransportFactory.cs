using System.Net;
using Microsoft.AspNetCore.Connections;

namespace McpTunnel.Gateway.Transport;

/// <summary>Registers the inner listener with Kestrel; it binds only <see cref="InnerEndPoint"/>.</summary>
internal sealed class InnerTransportFactory(InnerConnectionListener listener) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is InnerEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        endpoint is InnerEndPoint
            ? ValueTask.FromResult<IConnectionListener>(listener)
            : throw new NotSupportedException($"{endpoint} is not the inner endpoint");
}
