using System.Text;
using McpTunnel.Configuration;

namespace McpTunnel.Tests.Configuration;

/// <summary>
/// Bounded, seeded mutation fuzzing of the parsers that read untrusted text: whatever the input, they answer
/// with problems or values, never with an exception. The seeds are fixed, so a failure reproduces.
/// </summary>
public sealed class FuzzTests
{
    private const string Valid = """
        listen_addr: ":8080"
        log_level: info
        shutdown_timeout: 30s
        tunnel_domain: abcd1234.tunnel.anthropic.com
        tls:
          cert_file: /data/tls.crt
          key_file: /data/tls.key
        routes:
          echo: http://10.0.0.5:9000
          "a.b": https://wiki.internal:8443
        upstream:
          allowed_ips: [10.0.0.0/8, 127.0.0.1]
          tls: { ca_file: /etc/ssl/ca.pem, include_system_cas: true }
        appliance:
          health_addr: 127.0.0.1:9090
          cloudflared: { enabled: true, grace_period: 20s, protocol: http2 }
        """;

    private static readonly string[] Tokens = ["{", "}", "[", "]", ":", "- ", "\n", "  ", "&a", "*a", "!!seq", "!!map", "|", ">", "'", "\"", "#", "~", "null", "0x", "\t", "\0", "💥", "---", "...", "<<: *a", "? "];

    private static string Mutate(Random random, string input)
    {
        var text = new StringBuilder(input);
        var edits = random.Next(1, 6);
        for (var i = 0; i < edits && text.Length > 0; i++)
        {
            var position = random.Next(text.Length);
            switch (random.Next(6))
            {
                case 0:
                    text.Remove(position, Math.Min(random.Next(1, 20), text.Length - position));
                    break;
                case 1:
                    text.Insert(position, Tokens[random.Next(Tokens.Length)]);
                    break;
                case 2:
                    text[position] = (char)random.Next(1, 0x2FF);
                    break;
                case 3:
                    var length = Math.Min(random.Next(1, 40), text.Length - position);
                    text.Insert(random.Next(text.Length), text.ToString(position, length));
                    break;
                case 4:
                    text.Length = position;
                    break;
                default:
                    text.Insert(position, new string(' ', random.Next(1, 9)));
                    break;
            }
        }

        return text.ToString();
    }

    [Fact]
    public void The_config_loader_answers_every_mutated_file_with_problems_or_a_config()
    {
        var random = new Random(int.Parse(Environment.GetEnvironmentVariable("FUZZ_SEED") ?? "20261129", System.Globalization.CultureInfo.InvariantCulture));
        var iterations = int.Parse(Environment.GetEnvironmentVariable("FUZZ_ITERATIONS") ?? "4000", System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < iterations; i++)
        {
            var input = Mutate(random, Valid);
            ConfigLoadResult result;
            try
            {
                result = ConfigLoader.Parse(input, "fuzz.yaml");
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"iteration {i}: {ex.GetType().Name}: {ex.Message}\ninput:\n{input}");
            }

            Assert.True(result.Succeeded || result.Errors.Any(), $"iteration {i}: failed without saying why");
            Assert.All(result.Problems, p => Assert.False(string.IsNullOrWhiteSpace(p.Message)));
        }
    }

    [Fact]
    public void Value_parsers_never_throw_on_mutated_values()
    {
        var random = new Random(7);
        string[] seeds = ["30s", "1h30m", "2160h", "10.0.0.0/8", "127.0.0.1", "http://10.0.0.5:9000", "https://[fd00::1]:443", ":8080", "[::1]:8080"];
        for (var i = 0; i < 20000; i++)
        {
            var input = Mutate(random, seeds[random.Next(seeds.Length)]);
            _ = GoDuration.TryParse(input, out _);
            _ = Ipv4Cidr.TryParse(input, out _, out _);
            _ = UpstreamTarget.TryParse(input, out _, out _);
            _ = ListenAddress.TryParse(input, out _, out _);
        }
    }

    [Fact]
    public void The_mcp_peek_never_throws_on_mutated_json_rpc()
    {
        var random = new Random(11);
        const string seed = """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":"x","n":[1,2,{"name":"y"}]}}}""";
        for (var i = 0; i < 20000; i++)
        {
            var input = Encoding.UTF8.GetBytes(Mutate(random, seed));
            _ = McpTunnel.Gateway.Forwarding.McpRequestPeek.Parse(input);
        }
    }
}
