using McpTunnel.Connector;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Tests.Connector;

/// <summary>Reading cloudflared's stderr: fragmented, interleaved JSON events, its console format and plain lines.</summary>
public sealed class CloudflaredOutputTests
{
    // What json-iterator writes for two events logged by parallel goroutines: the first event's opening pairs,
    // the whole second event, then the rest of the first (each piece one write(2), keys sorted).
    private const string Interleaved =
        "{\"event\":0" + ",\"level\":\"error\"" +
        "{\"connIndex\":1" + ",\"level\":\"info\"" + ",\"message\":\"Registered tunnel connection\"" + ",\"time\":\"2026-11-28T09:35:09Z\"" + "}\n" +
        ",\"message\":\"Serve tunnel error\"" + ",\"time\":\"2026-11-28T09:35:09Z\"" + "}\n";

    private static List<CloudflaredEvent> Read(params string[] pieces)
    {
        var events = new List<CloudflaredEvent>();
        var output = new CloudflaredOutput(events.Add);
        foreach (var piece in pieces)
        {
            output.Write(piece);
        }

        output.Complete();
        return events;
    }

    [Fact]
    public void Interleaved_events_are_reassembled_wherever_the_reads_cut_the_stream()
    {
        for (var cut = 0; cut <= Interleaved.Length; cut++)
        {
            var events = Read(Interleaved[..cut], Interleaved[cut..]);
            Assert.Equal(2, events.Count);
            var registered = Assert.Single(events, e => e.Message == "Registered tunnel connection");
            Assert.Equal(LogLevel.Information, registered.Level);
            Assert.Equal("1", registered.Field("connIndex"));
            var error = Assert.Single(events, e => e.Message == "Serve tunnel error");
            Assert.Equal(LogLevel.Error, error.Level);
            Assert.Equal("0", error.Field("event"));
            Assert.All(events, e => Assert.False(e.Broken));
        }
    }

    [Fact]
    public void One_character_at_a_time_gives_the_same_events()
    {
        var events = Read([.. Interleaved.Select(c => c.ToString())]);
        Assert.Equal(["Registered tunnel connection", "Serve tunnel error"], events.Select(e => e.Message));
    }

    [Fact]
    public void Values_are_unescaped_and_nested_values_kept_whole()
    {
        var events = Read("{\"config\":{\"ingress\":[{\"service\":\"http://x\"}]}" + ",\"error\":\"a \\\"quoted\\\" \\u003cword\\u003e\"" + ",\"level\":\"warn\"" + ",\"message\":\"m\"" + ",\"time\":\"t\"" + "}\n");
        var e = Assert.Single(events);
        Assert.Equal(LogLevel.Warning, e.Level);
        Assert.Equal("{\"ingress\":[{\"service\":\"http://x\"}]}", e.Field("config"));
        Assert.Equal("a \"quoted\" <word>", e.Field("error"));
        Assert.DoesNotContain(e.Fields, f => f.Key is "level" or "time" or "message");
    }

    [Fact]
    public void The_console_format_of_older_releases_is_read_with_its_fields()
    {
        var events = Read(
            "2026-11-28T09:35:09Z INF Registered tunnel connection connIndex=0 connection=1f2e event=0 ip=198.41.192.7 location=fra08 protocol=quic\n",
            "2026-11-28T09:35:10Z ERR  error=\"Unable to reach the origin service: dial tcp 127.0.0.1:8080: connect: connection refused\" connIndex=0 event=1\n",
            "2026-11-28T09:35:11Z WRN Starting metrics server on 127.0.0.1:20241/metrics\n");
        Assert.Equal(3, events.Count);
        Assert.Equal("Registered tunnel connection", events[0].Message);
        Assert.Equal("fra08", events[0].Field("location"));
        Assert.Equal(LogLevel.Error, events[1].Level);
        Assert.Equal("", events[1].Message);
        Assert.Equal("Unable to reach the origin service: dial tcp 127.0.0.1:8080: connect: connection refused", events[1].Field("error"));
        Assert.Equal("Starting metrics server on 127.0.0.1:20241/metrics", events[2].Message);
    }

    [Fact]
    public void A_plain_line_is_an_error_and_a_cut_off_event_is_shown_once_at_its_level()
    {
        var events = Read(
            "Could not lookup srv records on _v2-origintunneld._tcp.argotunnel.com: lookup failed\n",
            "{\"level\":\"warn\"" + ",\"message\":\"half an event\"");
        Assert.Equal(2, events.Count);
        Assert.Equal(LogLevel.Error, events[0].Level);
        Assert.StartsWith("Could not lookup srv records", events[0].Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Warning, events[1].Level);
        Assert.Equal("half an event", events[1].Message);
        Assert.True(events[1].Broken);
    }
}
