using McpTunnel.Logging;
using Serilog.Events;
using Serilog.Parsing;

namespace McpTunnel.Tests.Cli;

public sealed class LogfmtFormatterTests
{
    private static string Format(string template, bool journald, params (string Name, object Value)[] properties)
    {
        var parsed = new MessageTemplateParser().Parse(template);
        var logEvent = new LogEvent(
            new DateTimeOffset(2026, 11, 29, 6, 0, 0, TimeSpan.Zero), LogEventLevel.Warning, null, parsed,
            properties.Select(p => new LogEventProperty(p.Name, new ScalarValue(p.Value))));
        var output = new StringWriter();
        new LogfmtFormatter(journald).Format(logEvent, output);
        return output.ToString();
    }

    [Fact]
    public void The_message_ends_where_the_first_field_starts_like_slog()
    {
        var line = Format("route configured route={Route} upstream={Upstream}", false, ("Route", "echo"), ("Upstream", "http://10.0.0.5:9000"));
        Assert.Equal("time=2026-11-29T06:00:00.000Z level=WARN msg=\"route configured\" route=echo upstream=http://10.0.0.5:9000\n", line);
    }

    [Fact]
    public void Values_inside_the_sentence_stay_in_the_message_so_grep_finds_the_documented_text()
    {
        var line = Format("IP validation failed: {Ip} is not a private address host={Host}", false, ("Ip", "8.8.8.8"), ("Host", "evil example"));
        Assert.Contains("msg=\"IP validation failed: 8.8.8.8 is not a private address\" host=\"evil example\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Under_journald_lines_carry_a_priority_and_no_timestamp()
    {
        var line = Format("no route for host host={Host}", true, ("Host", "x.example"));
        Assert.Equal("<4>level=WARN msg=\"no route for host\" host=x.example\n", line);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "\"\"")]
    [InlineData("a b", "\"a b\"")]
    [InlineData("say \"hi\"\n", "\"say \\\"hi\\\"\\n\"")]
    public void Values_are_quoted_only_when_needed(string value, string expected) => Assert.Equal(expected, LogfmtFormatter.Quote(value));
}
