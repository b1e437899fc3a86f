using System.Net;

namespace McpTunnel.Gateway.Transport;

/// <summary>
/// The private endpoint of the inner HTTPS server. It has no socket: its connections are the byte streams
/// of accepted WebSockets, handed over in process by <see cref="InnerConnectionListener"/>.
/// </summary>
public sealed class InnerEndPoint : EndPoint
{
    public static readonly InnerEndPoint Instance = new();

    private InnerEndPoint() { }

    /// <summary>Kestrel's connection metrics read it (EndPoint's own throws NotImplementedException, which stops the accept loop).</summary>
    public override System.Net.Sockets.AddressFamily AddressFamily => System.Net.Sockets.AddressFamily.Unspecified;

    public override string ToString() => "websocket-tunnel";
}
