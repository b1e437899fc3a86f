using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A loopback port where a TCP connect neither succeeds nor is refused, like a black-holed upstream: a listener
/// that never accepts, with its accept queue filled. Linux drops a SYN while the accept queue is full, so the
/// next connect hangs in SYN_SENT. The queue is watched in /proc/net/tcp (its rx_queue for a listener is the
/// accept queue), so the state is reached by events, not by guessing how long a connect may take on a busy host.
/// </summary>
public sealed class BlackHoleListener : IDisposable
{
    private const int Backlog = 1;
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _fillers = [];

    private BlackHoleListener()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(Backlog);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public static async Task<BlackHoleListener> StartAsync()
    {
        var hole = new BlackHoleListener();
        try
        {
            // "Full" is one more than the backlog (the kernel's sk_acceptq_is_full: ack_backlog > max_ack_backlog).
            for (var queued = 1; queued <= Backlog + 1; queued++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                hole._fillers.Add(filler);
                await filler.ConnectAsync(new IPEndPoint(IPAddress.Loopback, hole.Port)).WaitAsync(TimeSpan.FromSeconds(30));
                // The server side queues the connection when the final ACK arrives, just after connect returns here.
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                while (hole.AcceptQueueLength() < queued)
                {
                    await Task.Delay(10, timeout.Token);
                }
            }

            return hole;
        }
        catch
        {
            hole.Dispose();
            throw;
        }
    }

    /// <summary>Connections waiting in the listener's accept queue, from /proc/net/tcp.</summary>
    public int AcceptQueueLength()
    {
        var local = $"0100007F:{Port:X4}";
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[1] == local && fields[3] == "0A")
            {
                return int.Parse(fields[4].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"listener 127.0.0.1:{Port} is not in /proc/net/tcp");
    }

    public void Dispose()
    {
        foreach (var filler in _fillers)
        {
            filler.Dispose();
        }

        _listener.Dispose();
    }
}
