using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// The runtime calls <see cref="Initialize"/> before the host's Main when this assembly is named in
/// <c>DOTNET_STARTUP_HOOKS</c> (the type must be called StartupHook and sit outside any namespace). With
/// <c>MCP_BENCH_ALLOC_PORT</c> set it listens on 127.0.0.1 at that port and answers every connection with one
/// line: the bytes this process has allocated on the managed heap so far, every thread counted
/// (<see cref="GC.GetTotalAllocatedBytes(bool)"/> with precise: true). Each answer allocates a few hundred bytes
/// itself; the script reads it twice per run of tens of thousands of requests.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("MCP_BENCH_ALLOC_PORT"), NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return;
        }

        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        // A background thread: it never keeps the gateway alive, and it costs nothing between reads.
        new Thread(() => Serve(listener)) { IsBackground = true, Name = "alloc-probe" }.Start();
    }

    private static void Serve(TcpListener listener)
    {
        while (true)
        {
            using var client = listener.AcceptTcpClient();
            var line = GC.GetTotalAllocatedBytes(precise: true).ToString(CultureInfo.InvariantCulture) + "\n";
            client.GetStream().Write(Encoding.ASCII.GetBytes(line));
        }
    }
}
