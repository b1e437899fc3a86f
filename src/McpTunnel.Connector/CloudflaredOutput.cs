using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>
/// Turns cloudflared's stderr, as it arrives in arbitrary pieces, into log events.
/// </summary>
/// <remarks>
/// <para>With <c>--output json</c> cloudflared decodes every zerolog event and re-encodes it with json-iterator
/// (logger/console.go), whose sorted-map encoder hands each <c>"key":value</c> pair to stderr in its own write:
/// <c>{"k1":v1</c>, <c>,"k2":v2</c> … <c>}\n</c>. zerolog does not lock around that writer, so events logged by
/// parallel goroutines interleave at those boundaries (the real binary garbles 2-6 lines per start this way).
/// Lines are therefore the wrong unit. This reader scans the stream as a sequence of such members and closing
/// braces and reassembles events: a member belongs to the most recently opened event whose last key sorts before
/// it (keys arrive sorted), a <c>}</c> closes the most recent event that already has its <c>time</c>. A fragment is
/// never logged on its own; an event cut short (the child died mid-write) is flushed once, at its own level.</para>
/// <para>Anything else is line-based: zerolog's console format (<c>2026-11-28T09:35:09Z INF msg key=value</c>, what
/// releases before 2025.6.1 write), and plain lines: the fatal error urfave/cli prints before exit 1, the usage
/// errors before exit 255, Go panics. A plain line is an ERROR.</para>
/// </remarks>
public sealed partial class CloudflaredOutput(Action<CloudflaredEvent> onEvent)
{
    private const int MaxOpenEvents = 8;
    private const int MaxPending = 1 << 20;
    private readonly StringBuilder _pending = new();
    private readonly List<OpenEvent> _open = [];

    /// <summary>Feeds the next piece of the stream, cut anywhere.</summary>
    public void Write(ReadOnlySpan<char> text)
    {
        _pending.Append(text);
        Process(final: false);
    }

    /// <summary>The stream has ended: whatever is still pending is flushed.</summary>
    public void Complete()
    {
        Process(final: true);
        foreach (var open in _open.ToList())
        {
            Emit(open, broken: true);
        }

        _open.Clear();
    }

    private void Process(bool final)
    {
        var text = _pending.ToString();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is '\n' or '\r')
            {
                i++;
                continue;
            }

            if (c is '{' or ',')
            {
                var member = ScanMember(text, i + 1, final);
                if (member.Status == ScanStatus.Incomplete)
                {
                    break;
                }

                if (member.Status == ScanStatus.Complete)
                {
                    Add(c == '{', member.Key!, member.Value!);
                    i = member.End;
                    continue;
                }
            }
            else if (c == '}' && _open.Count > 0)
            {
                Close();
                i++;
                continue;
            }

            // A line of text.
            var end = text.IndexOf('\n', i);
            if (end < 0)
            {
                if (!final && text.Length - i < MaxPending)
                {
                    break;
                }

                end = text.Length;
            }

            Line(text[i..end].TrimEnd('\r'));
            i = Math.Min(end + 1, text.Length);
        }

        _pending.Remove(0, i);
    }

    private void Add(bool opens, string key, string value)
    {
        if (opens)
        {
            if (_open.Count == MaxOpenEvents)
            {
                Emit(_open[0], broken: true);
                _open.RemoveAt(0);
            }

            _open.Add(new OpenEvent(key, value));
            return;
        }

        // Keys of one event arrive in sorted order: the member continues an event whose last key sorts before it.
        var owner = _open.LastOrDefault(o => string.CompareOrdinal(o.LastKey, key) < 0) ?? _open.LastOrDefault();
        if (owner is null)
        {
            // The start of this event was never seen.
            owner = new OpenEvent(key, value) { Broken = true };
            _open.Add(owner);
            return;
        }

        owner.Add(key, value);
    }

    private void Close()
    {
        var done = _open.LastOrDefault(o => o.Has("time")) ?? _open[^1];
        _open.Remove(done);
        Emit(done, done.Broken);
    }

    private void Emit(OpenEvent open, bool broken)
    {
        var level = open.Get("level") is { } name ? JsonLevel(name) : LogLevel.Information;
        var fields = open.Fields.Where(f => f.Key is not ("level" or "time" or "message")).ToList();
        onEvent(new CloudflaredEvent(level, open.Get("message") ?? "", fields, broken));
    }

    private void Line(string line)
    {
        if (line.Length == 0)
        {
            return;
        }

        var console = ConsoleLine().Match(line);
        if (!console.Success)
        {
            onEvent(new CloudflaredEvent(LogLevel.Error, line, []));
            return;
        }

        var fields = new List<KeyValuePair<string, string>>();
        foreach (Match field in ConsoleField().Matches(console.Groups["fields"].Value))
        {
            var value = field.Groups[2].Value;
            fields.Add(new(field.Groups[1].Value, value.StartsWith('"') ? Unquote(value) : value));
        }

        onEvent(new CloudflaredEvent(ConsoleLevel(console.Groups["level"].Value), console.Groups["message"].Value.TrimEnd(), fields));
    }

    private static LogLevel JsonLevel(string level) => level switch
    {
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        "error" or "fatal" or "panic" => LogLevel.Error,
        _ => LogLevel.Information,
    };

    private static LogLevel ConsoleLevel(string level) => level switch
    {
        "TRC" => LogLevel.Trace,
        "DBG" => LogLevel.Debug,
        "INF" => LogLevel.Information,
        "WRN" => LogLevel.Warning,
        _ => LogLevel.Error,
    };

    private enum ScanStatus
    {
        Complete,
        Incomplete,
        Invalid,
    }

    private readonly record struct Member(ScanStatus Status, int End = 0, string? Key = null, string? Value = null);

    /// <summary>Scans <c>"key":value</c> at <paramref name="start"/> (just after the <c>{</c> or <c>,</c>).</summary>
    private static Member ScanMember(string text, int start, bool final)
    {
        var i = start;
        if (i >= text.Length)
        {
            return new Member(final ? ScanStatus.Invalid : ScanStatus.Incomplete);
        }

        if (text[i] != '"')
        {
            return new Member(ScanStatus.Invalid);
        }

        var keyEnd = ScanString(text, i);
        if (keyEnd < 0)
        {
            return new Member(keyEnd == -1 && !final ? ScanStatus.Incomplete : ScanStatus.Invalid);
        }

        i = keyEnd;
        if (i >= text.Length)
        {
            return new Member(final ? ScanStatus.Invalid : ScanStatus.Incomplete);
        }

        if (text[i] != ':')
        {
            return new Member(ScanStatus.Invalid);
        }

        var valueStart = i + 1;
        var valueEnd = ScanValue(text, valueStart, final);
        if (valueEnd < 0)
        {
            return new Member(valueEnd == -1 && !final ? ScanStatus.Incomplete : ScanStatus.Invalid);
        }

        var key = Unquote(text[start..keyEnd]);
        var raw = text[valueStart..valueEnd];
        return new Member(ScanStatus.Complete, valueEnd, key, raw.StartsWith('"') ? Unquote(raw) : raw);
    }

    /// <summary>End (exclusive) of the JSON string at <paramref name="i"/>; -1 when cut off, -2 when malformed.</summary>
    private static int ScanString(string text, int i)
    {
        for (var j = i + 1; j < text.Length; j++)
        {
            switch (text[j])
            {
                case '\\':
                    j++;
                    break;
                case '"':
                    return j + 1;
                case '\n':
                    return -2;
            }
        }

        return -1;
    }

    /// <summary>End (exclusive) of the JSON value at <paramref name="i"/>; -1 when cut off, -2 when malformed.</summary>
    private static int ScanValue(string text, int i, bool final)
    {
        if (i >= text.Length)
        {
            return -1;
        }

        switch (text[i])
        {
            case '"':
                return ScanString(text, i);
            case '{' or '[':
                var depth = 0;
                for (var j = i; j < text.Length; j++)
                {
                    switch (text[j])
                    {
                        case '"':
                            j = ScanString(text, j);
                            if (j < 0)
                            {
                                return j;
                            }

                            j--;
                            break;
                        case '{' or '[':
                            depth++;
                            break;
                        case '}' or ']':
                            if (--depth == 0)
                            {
                                return j + 1;
                            }

                            break;
                        case '\n':
                            return -2;
                    }
                }

                return -1;
            default:
                // A number or true/false/null: it ends at the first character that cannot continue it.
                var end = i;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] is '-' or '+' or '.'))
                {
                    end++;
                }

                if (end == i)
                {
                    return -2;
                }

                return end == text.Length && !final ? -1 : end;
        }
    }

    private static string Unquote(string quoted)
    {
        try
        {
            using var document = JsonDocument.Parse(quoted);
            return document.RootElement.GetString() ?? "";
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return quoted.Trim('"');
        }
    }

    /// <summary>zerolog's ConsoleWriter without colour: RFC 3339 time, a three-letter level, message, fields.</summary>
    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\S+ (?<level>TRC|DBG|INF|WRN|ERR|FTL|PNC) (?<message>.*?)(?<fields>(?: [A-Za-z_][\w.\-]*=(?:""(?:[^""\\]|\\.)*""|\S*))*)$")]
    private static partial Regex ConsoleLine();

    [GeneratedRegex(@" ([A-Za-z_][\w.\-]*)=(""(?:[^""\\]|\\.)*""|\S*)")]
    private static partial Regex ConsoleField();

    /// <summary>An event being reassembled.</summary>
    private sealed class OpenEvent
    {
        public OpenEvent(string key, string value) => Add(key, value);

        public List<KeyValuePair<string, string>> Fields { get; } = [];

        public string LastKey { get; private set; } = "";

        public bool Broken { get; init; }

        public void Add(string key, string value)
        {
            Fields.Add(new(key, value));
            LastKey = key;
        }

        public bool Has(string key) => Fields.Any(f => f.Key == key);

        public string? Get(string key) => Fields.LastOrDefault(f => f.Key == key).Value;
    }
}
