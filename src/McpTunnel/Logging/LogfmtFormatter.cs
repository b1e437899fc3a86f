using System.Globalization;
using System.Text;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Parsing;

namespace McpTunnel.Logging;

/// <summary>
/// One line per event in Go <c>slog</c>'s text style (spec 9, question 16), so operators can grep the same
/// strings as with the original proxy: <c>time=… level=INFO msg="route configured" route=echo upstream=…</c>.
/// The message is the template's text up to its first <c>key={Value}</c>; the rest become fields. Under
/// journald the timestamp is left out (the journal has one) and a <c>&lt;N&gt;</c> priority prefix is added.
/// </summary>
public sealed class LogfmtFormatter(bool journald) : ITextFormatter
{
    public void Format(LogEvent logEvent, TextWriter output)
    {
        var line = new StringBuilder(256);
        if (journald)
        {
            line.Append('<').Append(Priority(logEvent.Level)).Append('>');
        }
        else
        {
            line.Append("time=").Append(logEvent.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)).Append(' ');
        }

        line.Append("level=").Append(Level(logEvent.Level));
        var message = new StringBuilder();
        var fields = new StringBuilder();
        var inFields = false;
        var tokens = logEvent.MessageTemplate.Tokens.ToList();
        for (var i = 0; i < tokens.Count; i++)
        {
            switch (tokens[i])
            {
                case TextToken text when !inFields && i + 1 < tokens.Count && tokens[i + 1] is PropertyToken && KeyStart(text.Text) is var start and >= 0:
                    message.Append(text.Text.AsSpan(0, start));
                    fields.Append(' ').Append(text.Text.AsSpan(start).TrimStart());
                    inFields = true;
                    break;
                case TextToken text:
                    (inFields ? fields : message).Append(text.Text);
                    break;
                case PropertyToken property:
                    var value = Render(logEvent, property);
                    if (inFields)
                    {
                        fields.Append(Quote(value));
                    }
                    else
                    {
                        message.Append(value);
                    }

                    break;
            }
        }

        line.Append(" msg=").Append(Quote(message.ToString().Trim().TrimEnd(';', ',').Trim()));
        line.Append(fields);
        if (logEvent.Properties.TryGetValue("SourceContext", out var source) && source is ScalarValue { Value: string category } && !category.StartsWith("McpTunnel", StringComparison.Ordinal))
        {
            line.Append(" source=").Append(Quote(category));
        }

        if (logEvent.Exception is { } exception)
        {
            line.Append(" error=").Append(Quote(Flatten(exception)));
        }

        output.Write(line.Append('\n').ToString());
    }

    /// <summary>Index where a trailing <c>key=</c> starts in a text token, or -1.</summary>
    private static int KeyStart(string text)
    {
        if (!text.EndsWith('='))
        {
            return -1;
        }

        var i = text.Length - 2;
        while (i >= 0 && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
        {
            i--;
        }

        var keyLength = text.Length - 2 - i;
        return keyLength > 0 && (i < 0 || char.IsWhiteSpace(text[i])) ? i + 1 : -1;
    }

    private static string Render(LogEvent logEvent, PropertyToken property)
    {
        if (!logEvent.Properties.TryGetValue(property.PropertyName, out var value))
        {
            return property.ToString();
        }

        return value is ScalarValue { Value: var scalar }
            ? Convert.ToString(scalar, CultureInfo.InvariantCulture) ?? ""
            : value.ToString();
    }

    internal static string Quote(string value)
    {
        var needsQuotes = value.Length == 0;
        foreach (var c in value)
        {
            if (c is ' ' or '"' or '=' or '\\' || char.IsControl(c))
            {
                needsQuotes = true;
                break;
            }
        }

        if (!needsQuotes)
        {
            return value;
        }

        var quoted = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': quoted.Append("\\\""); break;
                case '\\': quoted.Append("\\\\"); break;
                case '\n': quoted.Append("\\n"); break;
                case '\r': quoted.Append("\\r"); break;
                case '\t': quoted.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                    {
                        quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    }
                    else
                    {
                        quoted.Append(c);
                    }

                    break;
            }
        }

        return quoted.Append('"').ToString();
    }

    private static string Flatten(Exception exception) =>
        string.Join(" ---> ", McpTunnel.Gateway.ExceptionChain.Of(exception).Select(e => $"{e.GetType().Name}: {e.Message}"));

    private static string Level(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => "DEBUG",
        LogEventLevel.Information => "INFO",
        LogEventLevel.Warning => "WARN",
        _ => "ERROR",
    };

    /// <summary>sd-daemon(3) priorities.</summary>
    private static int Priority(LogEventLevel level) => level switch
    {
        LogEventLevel.Verbose or LogEventLevel.Debug => 7,
        LogEventLevel.Information => 6,
        LogEventLevel.Warning => 4,
        LogEventLevel.Error => 3,
        _ => 2,
    };
}
