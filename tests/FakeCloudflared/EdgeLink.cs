using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FakeCloudflared;

/// <summary>
/// The stand-in's connection to a test's fake edge (<c>FAKE_CLOUDFLARED_EDGE=host:port</c>), so tests can send
/// traffic "through the tunnel" and see which connector carries it. A line protocol on one control connection:
/// <c>REGISTER &lt;relay port&gt; &lt;connector id&gt;</c> answered by <c>OK</c> (the edge now routes new requests
/// here), later <c>UNREGISTER</c> (no new requests; the edge closes the control connection once the requests in
/// flight have finished, and cloudflared exits then or when its grace period ends, as with the real edge, spec E7d).
/// Requests arrive on the relay port and are piped to <c>--url</c> byte for byte (for the gateway's WebSocket that
/// is what cloudflared's proxying amounts to).
/// </summary>
internal sealed class EdgeLink : IAsyncDisposable
{
    private readonly TcpClient _control;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;
    private readonly TcpListener _relay;
    private readonly DnsEndPoint _origin;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private EdgeLink(TcpClient control, TcpListener relay, DnsEndPoint origin)
    {
        _control = control;
        _stream = control.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
        _relay = relay;
        _origin = origin;
    }

    /// <summary>Completes when the edge has closed the control connection.</summary>
    public Task Closed => _closed.Task;

    public static async Task<EdgeLink> ConnectAsync(string edge, Uri origin)
    {
        var control = new TcpClient();
        await control.ConnectAsync(IPEndPoint.Parse(edge));
        var relay = new TcpListener(IPAddress.Loopback, 0);
        relay.Start();
        var link = new EdgeLink(control, relay, new DnsEndPoint(origin.Host, origin.Port));
        _ = link.AcceptAsync();
        return link;
    }

    public async Task RegisterAsync(Guid connectorId)
    {
        var port = ((IPEndPoint)_relay.LocalEndpoint).Port;
        await _stream.WriteAsync(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"REGISTER {port} {connectorId}\n")));
        if (await _reader.ReadLineAsync() != "OK")
        {
            throw new IOException("the fake edge refused the registration");
        }

        _ = WatchAsync();
    }

    public async Task UnregisterAsync()
    {
        try
        {
            await _stream.WriteAsync("UNREGISTER\n"u8.ToArray());
        }
        catch (IOException)
        {
            _closed.TrySetResult();
        }
    }

    private async Task WatchAsync()
    {
        try
        {
            while (await _reader.ReadLineAsync() is not null)
            {
            }
        }
        catch (IOException)
        {
        }

        _closed.TrySetResult();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _relay.AcceptTcpClientAsync(_stop.Token);
                _ = PipeAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        using (client)
        using (var origin = new TcpClient())
        {
            try
            {
                await origin.ConnectAsync(_origin.Host, _origin.Port);
                var a = client.GetStream();
                var b = origin.GetStream();
                var up = CopyAsync(a, b, origin.Client);
                var down = CopyAsync(b, a, client.Client);
                await Task.WhenAll(up, down);
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private static async Task CopyAsync(Stream from, Stream to, Socket target)
    {
        try
        {
            await from.CopyToAsync(to);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }

        try
        {
            target.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _relay.Stop();
        _control.Dispose();
        _stop.Dispose();
    }
}
