using System.Net;
using System.Net.Sockets;
using System.Text;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A loopback model of the tunnel edge for the stand-in (<c>FAKE_CLOUDFLARED_EDGE</c>, see its EdgeLink): connectors
/// register and unregister on a control connection; each client connection to <see cref="Port"/> is carried by one
/// registered connector (round robin) to its relay and on to the gateway. With no registered connector the client
/// gets <c>502</c> at once, as a visitor gets Error 1033 from the real edge. An unregistered connector keeps its
/// requests in flight; the edge closes its control connection when the last one has finished (spec E7d), which
/// is when cloudflared exits.
/// </summary>
public sealed class FakeEdge : IAsyncDisposable
{
    private readonly TcpListener _control = new(IPAddress.Loopback, 0);
    private readonly TcpListener _public = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<Connector> _connectors = [];
    private int _next;
    private int _refused;

    public FakeEdge()
    {
        _control.Start();
        _public.Start();
        _ = AcceptControlAsync();
        _ = AcceptPublicAsync();
    }

    /// <summary>For <c>FAKE_CLOUDFLARED_EDGE</c>.</summary>
    public string ControlAddress => ((IPEndPoint)_control.LocalEndpoint).ToString();

    /// <summary>Where clients connect, as if to the edge.</summary>
    public int Port => ((IPEndPoint)_public.LocalEndpoint).Port;

    /// <summary>Client connections that found no registered connector.</summary>
    public int Refused => Volatile.Read(ref _refused);

    public int RegisteredCount
    {
        get
        {
            lock (_gate)
            {
                return _connectors.Count(c => c.Registered);
            }
        }
    }

    /// <summary>Client connections carried, per connector id, in registration order.</summary>
    public IReadOnlyList<(string Id, int Served)> Served
    {
        get
        {
            lock (_gate)
            {
                return [.. _connectors.Select(c => (c.Id, c.Served))];
            }
        }
    }

    private async Task AcceptControlAsync()
    {
        try
        {
            while (true)
            {
                var client = await _control.AcceptTcpClientAsync(_stop.Token);
                _ = ControlAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task ControlAsync(TcpClient client)
    {
        Connector? connector = null;
        try
        {
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var parts = line.Split(' ');
                if (parts[0] == "REGISTER")
                {
                    connector = new Connector(parts[2], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), client);
                    lock (_gate)
                    {
                        _connectors.Add(connector);
                    }

                    await stream.WriteAsync("OK\n"u8.ToArray(), _stop.Token);
                }
                else if (parts[0] == "UNREGISTER" && connector is not null)
                {
                    lock (_gate)
                    {
                        connector.Registered = false;
                        connector.CloseIfDrained();
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            if (connector is not null)
            {
                lock (_gate)
                {
                    connector.Registered = false;
                }
            }

            client.Dispose();
        }
    }

    private async Task AcceptPublicAsync()
    {
        try
        {
            while (true)
            {
                var client = await _public.AcceptTcpClientAsync(_stop.Token);
                _ = CarryAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task CarryAsync(TcpClient client)
    {
        using (client)
        {
            Connector? connector;
            lock (_gate)
            {
                var registered = _connectors.Where(c => c.Registered).ToList();
                connector = registered.Count == 0 ? null : registered[_next++ % registered.Count];
                if (connector is not null)
                {
                    connector.InFlight++;
                    connector.Served++;
                }
            }

            if (connector is null)
            {
                Interlocked.Increment(ref _refused);
                try
                {
                    await client.GetStream().WriteAsync("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
                }
                catch (IOException)
                {
                }

                return;
            }

            try
            {
                using var relay = new TcpClient();
                await relay.ConnectAsync(IPAddress.Loopback, connector.RelayPort);
                var a = client.GetStream();
                var b = relay.GetStream();
                await Task.WhenAll(CopyAsync(a, b, relay.Client), CopyAsync(b, a, client.Client));
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
            }
            finally
            {
                lock (_gate)
                {
                    connector.InFlight--;
                    connector.CloseIfDrained();
                }
            }
        }
    }

    private static async Task CopyAsync(Stream from, Stream to, Socket target)
    {
        try
        {
            await from.CopyToAsync(to);
            target.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _control.Stop();
        _public.Stop();
        lock (_gate)
        {
            foreach (var connector in _connectors)
            {
                connector.Control.Dispose();
            }
        }

        _stop.Dispose();
    }

    private sealed class Connector(string id, int relayPort, TcpClient control)
    {
        public string Id { get; } = id;

        public int RelayPort { get; } = relayPort;

        public TcpClient Control { get; } = control;

        public bool Registered { get; set; } = true;

        public int InFlight { get; set; }

        public int Served { get; set; }

        /// <summary>An unregistered connector with nothing in flight is let go: the edge closes its connection.</summary>
        public void CloseIfDrained()
        {
            if (!Registered && InFlight == 0)
            {
                try
                {
                    Control.Client.Shutdown(SocketShutdown.Both);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    // The connector is already gone.
                }
            }
        }
    }
}
