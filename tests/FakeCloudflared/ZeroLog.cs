using System.Globalization;
using System.Text;

namespace FakeCloudflared;

/// <summary>
/// cloudflared's console log on stderr, written the way the real one writes it.
/// <list type="bullet">
/// <item><c>--output json</c> (logger/console.go): every zerolog event is decoded into a map and re-encoded with
/// json-iterator, whose sorted-map encoder hands each <c>"key":value</c> pair to the writer separately. So one event
/// reaches stderr in several writes: <c>{"k1":v1</c>, <c>,"k2":v2</c>, …, <c>}\n</c>. zerolog does not lock around
/// the writer, so events of parallel goroutines interleave at those boundaries.</item>
/// <item>default output: zerolog's ConsoleWriter, one write per line:
/// <c>2026-11-28T09:35:09Z INF message error="…" key=value</c> (error first, the other fields sorted).</item>
/// </list>
/// </summary>
internal sealed class ZeroLog(bool json)
{
    private readonly Stream _stderr = Console.OpenStandardError();
    private readonly Lock _gate = new();

    public bool Json => json;

    public void Log(string level, string message, params (string Key, object Value)[] fields) => Write(Chunks(level, message, fields));

    /// <summary>Two events from "parallel goroutines": the first one's opening pairs, the whole second one, then the rest.</summary>
    public void Interleaved((string Level, string Message, (string, object)[] Fields) first, (string Level, string Message, (string, object)[] Fields) second, int split = 2)
    {
        var a = Chunks(first.Level, first.Message, first.Fields);
        var b = Chunks(second.Level, second.Message, second.Fields);
        if (!json)
        {
            Write([.. a, .. b]);
            return;
        }

        split = Math.Min(split, a.Count - 1);
        Write([.. a.Take(split), .. b, .. a.Skip(split)]);
    }

    /// <summary>A line that is not a log event (the fatal error urfave/cli prints before exiting).</summary>
    public void Plain(string line) => Write([line + "\n"]);

    private void Write(IReadOnlyList<string> chunks)
    {
        lock (_gate)
        {
            foreach (var chunk in chunks)
            {
                // One write(2) per chunk, as json-iterator's stream does.
                _stderr.Write(Encoding.UTF8.GetBytes(chunk));
                _stderr.Flush();
            }
        }
    }

    private List<string> Chunks(string level, string message, (string Key, object Value)[] fields)
    {
        var time = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        if (!json)
        {
            var line = new StringBuilder().Append(time).Append(' ').Append(Abbreviation(level)).Append(' ').Append(message);
            foreach (var (key, value) in fields.OrderBy(f => f.Key == "error" ? 0 : 1).ThenBy(f => f.Key, StringComparer.Ordinal))
            {
                line.Append(' ').Append(key).Append('=').Append(value is string s ? ConsoleValue(s) : Convert.ToString(value, CultureInfo.InvariantCulture));
            }

            return [line.Append('\n').ToString()];
        }

        var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["level"] = Encode(level),
            ["time"] = Encode(time),
        };
        if (message.Length > 0)
        {
            pairs["message"] = Encode(message);
        }

        foreach (var (key, value) in fields)
        {
            pairs[key] = value switch
            {
                string s => Encode(s),
                int or long or uint or byte => Convert.ToString(value, CultureInfo.InvariantCulture)!,
                bool b => b ? "true" : "false",
                _ => Encode(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""),
            };
        }

        var chunks = new List<string>();
        var first = true;
        foreach (var (key, value) in pairs)
        {
            chunks.Add((first ? "{" : ",") + Encode(key) + ":" + value);
            first = false;
        }

        chunks.Add("}\n");
        return chunks;
    }

    /// <summary>Go's encoding/json string form (HTML characters escaped, as json-iterator's standard config does).</summary>
    public static string Encode(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case < ' ' or '<' or '>' or '&' or '\u2028' or '\u2029':
                    text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    break;
                default: text.Append(c); break;
            }
        }

        return text.Append('"').ToString();
    }

    private static string ConsoleValue(string value) =>
        value.Length > 0 && value.All(c => c > ' ' && c != '"' && c != '=' && c != '\\' && c < 127) ? value : Encode(value);

    private static string Abbreviation(string level) => level switch
    {
        "debug" => "DBG",
        "info" => "INF",
        "warn" => "WRN",
        "error" => "ERR",
        "fatal" => "FTL",
        _ => "???",
    };
}
