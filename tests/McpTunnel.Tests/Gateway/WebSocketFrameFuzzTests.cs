using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using McpTunnel.Operations;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Gateway;

/// <summary>
/// Bounded, seeded mutation fuzzing of the outer WebSocket frames, the bytes cloudflared sends and the gateway
/// turns into the inner TLS stream. Every sequence goes over a real socket to a running gateway, and
/// <see cref="ServerFrameModel"/> says what the frame parser must make of it; the gateway must close or answer
/// as documented, never hang, and afterwards hold no connection and still serve.
/// <para>
/// <c>FUZZ_SEED</c> and <c>FUZZ_ITERATIONS</c> (default 2,000 sequences, about 8 s on two cores) reproduce and lengthen a run;
/// each iteration draws from its own seed, so a failure names the one iteration to replay.
/// </para>
/// </summary>
[Collection(Isolated.Name)]
public sealed class WebSocketFrameFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    [Fact]
    public async Task Mutated_frame_sequences_are_closed_or_answered_as_documented_and_leave_nothing_behind()
    {
        var seed = int.Parse(Environment.GetEnvironmentVariable("FUZZ_SEED") ?? "20261130", CultureInfo.InvariantCulture);
        var iterations = int.Parse(Environment.GetEnvironmentVariable("FUZZ_ITERATIONS") ?? "2000", CultureInfo.InvariantCulture);
        await using var upstream = await EchoUpstream.StartAsync();
        // Handshake and header timeouts far above the hang limit's share of one iteration, so a close can only
        // come from the frames themselves.
        await using var gateway = await GatewayHarness.StartAsync($"echo: http://127.0.0.1:{upstream.Port}",
            "upstream:\n  allowed_ips: [127.0.0.0/8]\nappliance:\n  tls_handshake_timeout: 60s\n  request_headers_timeout: 60s",
            logLevel: "warn");
        var clientHello = await CaptureClientHelloAsync();
        using (var warm = gateway.CreateClient())
        using (await warm.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/warm")))
        {
        }

        await WaitForNoWebSocketsAsync(gateway);
        var fdsBefore = OpenDescriptors();
        var websocketsBefore = gateway.Server.Metrics.WebSocketsTotal;
        var fuzzer = new FrameFuzzer(gateway, clientHello);

        // Every eighth iteration runs a real TLS session and HTTP request through frames mutated only in
        // ways the RFC allows; the rest send blind sequences ending in EOF.
        // FUZZ_ONLY=N replays one iteration of the seed.
        var only = Environment.GetEnvironmentVariable("FUZZ_ONLY") is { } one ? int.Parse(one, CultureInfo.InvariantCulture) : (int?)null;
        await Parallel.ForEachAsync(only is int single ? [single] : Enumerable.Range(0, iterations), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var random = new Random(unchecked((seed * 1_000_003) + i));
            try
            {
                if (i % 8 == 7)
                {
                    await fuzzer.LiveAsync(random, i);
                }
                else
                {
                    await fuzzer.BlindAsync(random);
                }
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"FUZZ_SEED={seed} iteration {i}: {ex.Message}", ex);
            }
        });

        output.WriteLine($"FUZZ_SEED={seed} FUZZ_ITERATIONS={iterations}: {fuzzer.Summary}");
        await WaitForNoWebSocketsAsync(gateway);
        Assert.Equal(only is null ? iterations : 1, gateway.Server.Metrics.WebSocketsTotal - websocketsBefore);
        Assert.Equal(0, gateway.Server.Metrics.ActiveWebSockets);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (OpenDescriptors() > fdsBefore + 16 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(OpenDescriptors() <= fdsBefore + 16, $"{OpenDescriptors() - fdsBefore} descriptors more than before");
        // Regression: Kestrel's "application never completed" (an inner connection it never saw end, because
        // TunnelConnection.DisposeAsync threw) came about once per 2,000 sequences before the fix.
        var errors = gateway.Logs.Lines.Where(l => l.Level >= LogLevel.Error).Select(l => $"{l.Category}: {l.Message} {l.Exception}").ToList();
        Assert.True(errors.Count == 0, $"the gateway logged errors:\n{string.Join("\n", errors.Take(5))}");

        using var http = gateway.CreateClient();
        using var response = await http.GetAsync(new Uri($"https://{GatewayHarness.Host("echo")}/after-fuzz"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task WaitForNoWebSocketsAsync(GatewayHarness gateway)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (gateway.Server.Metrics.ActiveWebSockets > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }

    /// <summary>The first flight of a real TLS client for the route's name: a ClientHello record.</summary>
    private static async Task<byte[]> CaptureClientHelloAsync()
    {
        var capture = new CaptureStream();
        await using var tls = new SslStream(capture);
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = GatewayHarness.Host("echo") });
        }
        catch (IOException)
        {
            // The capture stream answers with EOF; the handshake was only wanted for its first write.
        }

        Assert.True(capture.Written.Count > 5 && capture.Written[0] == 0x16, "no ClientHello was written");
        return [.. capture.Written];
    }

    private sealed class CaptureStream() : InterceptingStream(Null)
    {
        public List<byte> Written { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Written.AddRange(buffer.ToArray());
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Builds frame sequences, sends them and judges the answers.</summary>
    private sealed class FrameFuzzer(GatewayHarness gateway, byte[] clientHello)
    {
        private static readonly int[] AllowedCloseCodes = [1000, 1002, 1003];
        private readonly int[] _judged = new int[3];
        private readonly int[] _closed = new int[3];
        private int _doubleCloses;

        /// <summary>Per clean outcome: sequences judged strictly, and how many of them got the server's close frame.</summary>
        public string Summary => string.Join(", ", Enum.GetValues<ServerFrameModel.Outcome>().Select(o => $"{o}: {_closed[(int)o]}/{_judged[(int)o]} with a close frame")) + $"; two close frames (1000 and 1002, either order): {_doubleCloses}";

        public async Task BlindAsync(Random random)
        {
            var frames = ValidSequence(random, clientHello[..random.Next(1, clientHello.Length + 1)]);
            if (random.Next(3) == 0)
            {
                frames.Add(random.Next(4) == 0 ? ClientFrame.Close(null) : ClientFrame.Close(1000, "bye"u8.ToArray()));
            }

            var mutations = random.Next(4) == 0 ? 0 : random.Next(1, 4);
            for (var m = 0; m < mutations; m++)
            {
                MutateFrames(random, frames);
            }

            var bytes = frames.SelectMany(f => f.Encode()).ToList();
            if (mutations > 0 && random.Next(3) == 0)
            {
                MutateBytes(random, bytes);
            }

            var model = ServerFrameModel.Run(bytes.ToArray());
            if (model.AtFrameBoundary)
            {
                // Nothing ended the stream yet: end it with a close frame, so the server owes every answer.
                bytes.AddRange(ClientFrame.Close(random.Next(2) == 0 ? null : (ushort)1000).Encode());
                model = ServerFrameModel.Run(bytes.ToArray());
            }

            var sent = bytes.ToArray();
            var (client, stream) = await UpgradeAsync();
            using (client)
            {
                await WriteInPiecesAsync(random, stream, sent);
                if (model.Ending == ServerFrameModel.Outcome.Eof)
                {
                    // Cut inside a frame: only EOF can end it. A WebSocket that ends without a close is
                    // failed (RFC 6455 7.1.5), and answers still queued may be dropped.
                    client.Client.Shutdown(SocketShutdown.Send);
                }

                var answer = await ReadToEndAsync(stream);
                Judge(model, sent, answer);
            }
        }

        /// <summary>What the server sent must be frames a server may send, and what the model predicts.</summary>
        private void Judge(ServerFrameModel model, byte[] sent, byte[] answer)
        {
            string Context() => $"model: {model.Ending} ({model.Why}), sent {Convert.ToHexString(sent.AsSpan(0, Math.Min(sent.Length, 400)))}, answer {Convert.ToHexString(answer.AsSpan(0, Math.Min(answer.Length, 200)))}";
            var frames = ServerFrame.ParseAll(answer, out var trailing);
            Assert.True(trailing == 0, $"the server's output ends inside a frame; {Context()}");
            var closes = frames.Where(f => f.Opcode == 0x8).ToList();
            if (closes.Count == 2 && (closes[0].CloseCode, closes[1].CloseCode) is (1000, 1002) or (1002, 1000))
            {
                // A known race in .NET's ManagedWebSocket, not a gateway decision: its protocol-error close and
                // the gateway's own polite close (the inner connection ended at the same moment) both pass the
                // "close not sent yet" check before either is sent. Counted, reported, and tolerated only here.
                Interlocked.Increment(ref _doubleCloses);
                frames.Remove(closes[0].CloseCode == 1000 ? closes[0] : closes[1]);
            }

            for (var i = 0; i < frames.Count; i++)
            {
                var frame = frames[i];
                Assert.True(frame.Fin && frame.Reserved == 0 && !frame.Masked, $"malformed server frame {i}; {Context()}");
                Assert.True(frame.Opcode is 0x2 or 0x8 or 0xA, $"server opcode {frame.Opcode}; {Context()}");
                Assert.True(frame.Opcode == 0x2 || frame.Payload.Length <= 125, $"long control frame; {Context()}");
                // RFC 6455 5.5.1: no data frame after a close frame (a pong may still answer a ping).
                Assert.True(frame.Opcode != 0x2 || !frames.Take(i).Any(f => f.Opcode == 0x8), $"a data frame after the close frame; {Context()}");
                Assert.True(frame.Opcode != 0x8 || !frames.Take(i).Any(f => f.Opcode == 0x8), $"two close frames; {Context()}");
            }

            var close = frames.FirstOrDefault(f => f.Opcode == 0x8);
            Assert.True(close is null || close.CloseCode is int code && AllowedCloseCodes.Contains(code), $"close code {close?.CloseCode}; {Context()}");

            // Pongs answer the pings in order, each with the ping's payload; the stream may be cut short.
            var pongs = frames.Where(f => f.Opcode == 0xA).Select(f => f.Payload).ToList();
            Assert.True(pongs.Count <= model.Pings.Count, $"{pongs.Count} pongs for {model.Pings.Count} pings; {Context()}");
            for (var i = 0; i < pongs.Count; i++)
            {
                Assert.True(pongs[i].AsSpan().SequenceEqual(model.Pings[i]), $"pong {i} does not echo its ping; {Context()}");
            }

            var tls = frames.Where(f => f.Opcode == 0x2).SelectMany(f => f.Payload).ToArray();
            Assert.True(tls.Length == 0 || tls[0] is 0x15 or 0x16, $"the inner stream does not start with a TLS record; {Context()}");

            // While the delivered bytes are a prefix of a ClientHello, TLS cannot have ended the connection, so
            // the frame layer alone decides: exact pongs, and the documented close for a violation.
            var delivered = model.Data.ToArray();
            var cleanPrefix = !model.Ambiguous && delivered.Length <= clientHello.Length && clientHello.AsSpan(0, delivered.Length).SequenceEqual(delivered);
            if (!cleanPrefix)
            {
                return;
            }

            // Once the server's close frame arrived, nothing before it was lost to a reset: every ping before the
            // end must have its pong.
            Assert.True(pongs.Count == model.Pings.Count || close is null, $"{pongs.Count} pongs for {model.Pings.Count} pings; {Context()}");
            Interlocked.Increment(ref _judged[(int)model.Ending]);
            if (close is not null)
            {
                Interlocked.Increment(ref _closed[(int)model.Ending]);
            }

            if (delivered.Length < clientHello.Length)
            {
                Assert.True(tls.Length == 0, $"TLS answered an incomplete ClientHello; {Context()}");
            }

            switch (model.Ending)
            {
                case ServerFrameModel.Outcome.Violation:
                    // The close frame is written, but the reset that follows it can overtake it at the client
                    // (the reset is Kestrel's abortive close; see docs/benchmarks.md), so only its code is checked.
                    Assert.True(close is null || model.ViolationCodes.Contains(close.CloseCode ?? 0), $"expected close {string.Join("/", model.ViolationCodes)}, got {close?.CloseCode}; {Context()}");
                    break;
                case ServerFrameModel.Outcome.ClientClose:
                    Assert.True(close is null || close.CloseCode == 1000, $"close {close?.CloseCode} after the client's close; {Context()}");
                    break;
                default:
                    Assert.True(close is null || close.CloseCode == 1000, $"close {close?.CloseCode} after EOF; {Context()}");
                    break;
            }
        }

        /// <summary>
        /// A real TLS session and HTTP request through frames that are valid but awkward (fragments, empty frames,
        /// pings and pongs between fragments, non-minimal lengths, text-free); half the time a header violation
        /// follows the response on the idle keep-alive connection and must be answered with close 1002.
        /// </summary>
        public async Task LiveAsync(Random random, int iteration)
        {
            var (client, stream) = await UpgradeAsync();
            using (client)
            {
                var frames = new FuzzedFrameStream(stream, random);
                await using var tls = new SslStream(frames, leaveInnerStreamOpen: true);
                using var timeout = new CancellationTokenSource(HangLimit);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = GatewayHarness.Host("echo"),
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                    RemoteCertificateValidationCallback = (_, c, _, e) => CertificateVerifier.Verify(c as System.Security.Cryptography.X509Certificates.X509Certificate2, e, gateway.Pki.TrustedCas) is null,
                }, timeout.Token);
                var violate = random.Next(2) == 0;
                var path = violate ? "/status/204" : $"/live/{iteration}";
                await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {GatewayHarness.Host("echo")}\r\n{(violate ? "" : "Connection: close\r\n")}\r\n"), timeout.Token);
                var response = new StringBuilder();
                var buffer = new byte[4096];
                while (!(violate ? response.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) : frames.Closed))
                {
                    var read = await tls.ReadAsync(buffer, timeout.Token);
                    if (read == 0)
                    {
                        break;
                    }

                    response.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                var text = response.ToString();
                Assert.True(text.StartsWith(violate ? "HTTP/1.1 204" : "HTTP/1.1 200", StringComparison.Ordinal), $"answer: {text}");
                if (!violate)
                {
                    // Pings the server had not read when it closed may go unanswered (or be answered after its
                    // close frame, which RFC 6455 5.5.1 allows); the pongs that came were checked in order.
                    Assert.Contains($"/live/{iteration}", text, StringComparison.Ordinal);
                    return;
                }

                var violation = random.Next(5) switch
                {
                    0 => new ClientFrame(0x2, [1, 2, 3]) { Reserved = random.Next(1, 8) },
                    1 => new ClientFrame(new[] { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF }[random.Next(10)], [1]),
                    2 => new ClientFrame(0x0, [1, 2]),
                    3 => new ClientFrame(0x9, new byte[random.Next(126, 300)]),
                    _ => new ClientFrame(0x9, [7]) { Fin = false },
                };
                await stream.WriteAsync(violation.Encode(), timeout.Token);
                var answer = await ReadToEndAsync(stream);
                var after = ServerFrame.ParseAll(answer, out var trailing);
                Assert.True(trailing == 0 && (after.Count == 0 || after[^1].CloseCode == 1002), $"after a violation ({Convert.ToHexString(violation.Encode().AsSpan(0, 4))}): {Convert.ToHexString(answer)}");
            }
        }

        /// <summary>A valid sequence carrying <paramref name="data"/>: fragments, empty frames, control frames between them.</summary>
        private static List<ClientFrame> ValidSequence(Random random, byte[] data, bool allowText = true)
        {
            var frames = new List<ClientFrame>();
            var position = 0;
            while (position < data.Length || frames.Count == 0)
            {
                var messageLength = Math.Min(data.Length - position, random.Next(4) == 0 ? random.Next(1, 8) : random.Next(1, data.Length + 1));
                var opcode = allowText && random.Next(10) == 0 ? 0x1 : 0x2;
                var fragments = random.Next(3) == 0 ? random.Next(2, 6) : 1;
                var end = position + messageLength;
                for (var f = 0; f < fragments; f++)
                {
                    var take = f == fragments - 1 ? end - position : random.Next(0, end - position + 1);
                    MaybeControl(random, frames);
                    frames.Add(new ClientFrame(f == 0 ? opcode : 0x0, data[position..(position + take)])
                    {
                        Fin = f == fragments - 1,
                        LengthForm = RandomLengthForm(random),
                        MaskKey = RandomMask(random),
                    });
                    position += take;
                }
            }

            MaybeControl(random, frames);
            return frames;
        }

        private static void MaybeControl(Random random, List<ClientFrame> frames)
        {
            if (random.Next(5) == 0)
            {
                var payload = new byte[random.Next(0, 126)];
                random.NextBytes(payload);
                frames.Add(new ClientFrame(random.Next(3) == 0 ? 0xA : 0x9, payload) { LengthForm = RandomLengthForm(random), MaskKey = RandomMask(random) });
            }
        }

        private static int RandomLengthForm(Random random) => random.Next(6) switch { 0 => 16, 1 => 64, _ => 7 };

        private static byte[] RandomMask(Random random)
        {
            var mask = new byte[4];
            if (random.Next(20) != 0)
            {
                random.NextBytes(mask);
            }

            return mask;
        }

        private static void MutateFrames(Random random, List<ClientFrame> frames)
        {
            var index = random.Next(frames.Count);
            var frame = frames[index];
            frames[index] = random.Next(12) switch
            {
                0 => frame with { Reserved = random.Next(1, 8) },
                1 => frame with { Opcode = random.Next(16) },
                2 => frame with { Fin = !frame.Fin },
                3 => frame with { Masked = false },
                4 => frame with { LengthOverride = (ulong)Math.Max(0, frame.Payload.Length + random.Next(-3, 4)) },
                5 => frame with { LengthOverride = (ulong)random.NextInt64() | (random.Next(2) == 0 ? 0x8000_0000_0000_0000UL : 0), LengthForm = 64 },
                6 => frame with { LengthOverride = (ulong)random.Next(126, 70_000) },
                7 => new ClientFrame(random.Next(2) == 0 ? 0x9 : 0xA, new byte[random.Next(126, 400)]),
                8 => random.Next(4) switch
                {
                    0 => ClientFrame.Close(null) with { Payload = [3] },
                    1 => ClientFrame.Close((ushort)new[] { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 }[random.Next(10)]),
                    2 => ClientFrame.Close(1000, [0xC3, 0x28]),
                    _ => ClientFrame.Close((ushort)new[] { 1000, 1001, 3000, 4999 }[random.Next(4)]),
                },
                9 => frame with { Payload = [.. frame.Payload, .. "€"u8.ToArray(), 0xFF], Opcode = 0x1 },
                10 => frame,
                _ => frame with { LengthForm = 64, LengthOverride = (ulong)frame.Payload.Length },
            };

            switch (random.Next(6))
            {
                case 0:
                    frames.Insert(random.Next(frames.Count + 1), frames[random.Next(frames.Count)]);
                    break;
                case 1 when frames.Count > 1:
                    frames.RemoveAt(random.Next(frames.Count));
                    break;
                case 2 when frames.Count > 1:
                    var (a, b) = (random.Next(frames.Count), random.Next(frames.Count));
                    (frames[a], frames[b]) = (frames[b], frames[a]);
                    break;
            }
        }

        private static void MutateBytes(Random random, List<byte> bytes)
        {
            if (bytes.Count == 0)
            {
                return;
            }

            switch (random.Next(3))
            {
                case 0:
                    var cut = random.Next(bytes.Count);
                    bytes.RemoveRange(cut, bytes.Count - cut);
                    break;
                case 1:
                    var index = random.Next(bytes.Count);
                    bytes[index] ^= (byte)(1 << random.Next(8));
                    break;
                default:
                    var garbage = new byte[random.Next(1, 16)];
                    random.NextBytes(garbage);
                    bytes.InsertRange(random.Next(bytes.Count + 1), garbage);
                    break;
            }
        }

        private async Task<(TcpClient Client, NetworkStream Stream)> UpgradeAsync()
        {
            var client = new TcpClient { NoDelay = true };
            await client.ConnectAsync(IPAddress.Loopback, gateway.HttpUri.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{gateway.HttpUri.Port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
            // Read the 101 byte by byte so no frame byte after it is consumed.
            var head = new List<byte>();
            var one = new byte[1];
            while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                Assert.True(await stream.ReadAsync(one) == 1, "the upgrade was refused");
                head.Add(one[0]);
            }

            Assert.StartsWith("HTTP/1.1 101", Encoding.ASCII.GetString([.. head]), StringComparison.Ordinal);
            return (client, stream);
        }

        private static async Task WriteInPiecesAsync(Random random, NetworkStream stream, byte[] bytes)
        {
            var position = 0;
            try
            {
                while (position < bytes.Length)
                {
                    var take = random.Next(3) == 0 ? random.Next(1, 8) : bytes.Length - position;
                    take = Math.Min(take, bytes.Length - position);
                    await stream.WriteAsync(bytes.AsMemory(position, take));
                    position += take;
                }
            }
            catch (IOException)
            {
                // The server closed after a violation while the rest was still being written.
            }
        }

        /// <summary>Everything until the server closes; a reset counts as closed, silence past the limit is a hang.</summary>
        private static async Task<byte[]> ReadToEndAsync(NetworkStream stream)
        {
            var answer = new MemoryStream();
            var buffer = new byte[8192];
            using var timeout = new CancellationTokenSource(HangLimit);
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
                {
                    answer.Write(buffer, 0, read);
                }
            }
            catch (IOException)
            {
                // Kestrel closes an aborted connection with a reset (SO_LINGER 0): see docs/benchmarks.md.
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the gateway neither closed nor answered within {HangLimit.TotalSeconds} s; got {Convert.ToHexString(answer.ToArray())}");
            }

            return answer.ToArray();
        }

        /// <summary>
        /// The client side of a tunnel with awkward but valid framing: every write becomes a random valid frame
        /// sequence (binary only, so no UTF-8 rule applies); reads check each server frame and answer nothing.
        /// </summary>
        private sealed class FuzzedFrameStream(NetworkStream socket, Random random) : Stream
        {
            private readonly Queue<byte[]> _pings = new();
            private byte[] _pending = [];
            private int _pendingOffset;
            private readonly List<byte> _incoming = [];

            public bool Closed { get; private set; }

            public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            {
                var frames = ValidSequence(random, buffer.ToArray(), allowText: false);
                foreach (var ping in frames.Where(f => f.Opcode == 0x9))
                {
                    _pings.Enqueue(ping.Payload);
                }

                await WriteInPiecesAsync(random, socket, [.. frames.SelectMany(f => f.Encode())]);
            }

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                while (_pendingOffset == _pending.Length)
                {
                    if (Closed)
                    {
                        return 0;
                    }

                    if (ServerFrame.TryParse([.. _incoming], out var consumed) is not { } frame)
                    {
                        var chunk = new byte[8192];
                        var read = await socket.ReadAsync(chunk, cancellationToken);
                        if (read == 0)
                        {
                            Closed = true;
                            return 0;
                        }

                        _incoming.AddRange(chunk.AsSpan(0, read));
                        continue;
                    }

                    _incoming.RemoveRange(0, consumed);
                    Assert.True(frame.Fin && frame.Reserved == 0 && !frame.Masked, "malformed server frame");
                    switch (frame.Opcode)
                    {
                        case 0x2:
                            (_pending, _pendingOffset) = (frame.Payload, 0);
                            break;
                        case 0xA:
                            Assert.True(_pings.Count > 0 && _pings.Dequeue().AsSpan().SequenceEqual(frame.Payload), "a pong that answers no ping");
                            break;
                        case 0x8:
                            Assert.True(frame.CloseCode == 1000, $"close {frame.CloseCode} on a valid session");
                            Closed = true;
                            break;
                        default:
                            Assert.Fail($"server opcode {frame.Opcode}");
                            break;
                    }
                }

                var count = Math.Min(buffer.Length, _pending.Length - _pendingOffset);
                _pending.AsMemory(_pendingOffset, count).CopyTo(buffer);
                _pendingOffset += count;
                return count;
            }

            public override bool CanRead => true;

            public override bool CanSeek => false;

            public override bool CanWrite => true;

            public override long Length => throw new NotSupportedException();

            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override void Flush() { }

            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        }
    }
}
