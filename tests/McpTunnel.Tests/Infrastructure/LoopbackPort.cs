using System.Net;
using System.Net.Sockets;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// Loopback ports for tests, bound to port 0 so the kernel picks one, and held while the test needs them: picking a
/// port, closing it and using it later races every other process on the host for it.
/// </summary>
public sealed class LoopbackPort : IDisposable
{
    private readonly Socket _socket;

    private LoopbackPort(Socket socket) => _socket = socket;

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    /// <summary><c>127.0.0.1:PORT</c>, as configuration files and flags write it.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>A started listener on 127.0.0.1, for code that accepts on it (or a test that owns the other end).</summary>
    public static TcpListener Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    /// <summary>
    /// A port that refuses connections (bound, never listening: the kernel answers a connect with RST) and that no
    /// one else can take while this is held, so "connection refused" is certain for the whole test.
    /// </summary>
    public static LoopbackPort Refusing()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return new LoopbackPort(socket);
    }

    /// <summary>
    /// A port that was free a moment ago, for a listener this test cannot hand a socket to and cannot ask for port 0
    /// with: another process (<c>mcp-tunnel run</c>, the cloudflared stand-in) that binds it itself. Another program
    /// may take it in between; every caller says why it cannot use <see cref="Listen"/> or port 0 instead.
    /// </summary>
    public static int PickForAnotherListener()
    {
        using var listener = Listen();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose() => _socket.Dispose();
}
