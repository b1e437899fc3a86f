using System.Globalization;

namespace McpTunnel.Configuration;

/// <summary>
/// Parses and formats durations in Go's <c>time.ParseDuration</c> syntax ("30s", "1m30s", "2160h", "1.5h",
/// "300ms"), because the proxy's config and the setup component's flags are written in it.
/// </summary>
public static class GoDuration
{
    private static readonly (string Unit, double Ticks)[] Units =
    [
        ("ns", 0.01), ("us", 10), ("µs", 10), ("μs", 10), ("ms", TimeSpan.TicksPerMillisecond),
        ("s", TimeSpan.TicksPerSecond), ("m", TimeSpan.TicksPerMinute), ("h", TimeSpan.TicksPerHour),
    ];

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var s = text.Trim();
        var negative = false;
        if (s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s == "0")
        {
            return true;
        }

        if (s.Length == 0)
        {
            return false;
        }

        double ticks = 0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.')
            {
                i++;
            }

            var unit = s[unitStart..i];
            var factor = Array.Find(Units, u => u.Unit == unit).Ticks;
            if (factor == 0)
            {
                return false;
            }

            ticks += number * factor;
        }

        if (ticks > TimeSpan.MaxValue.Ticks)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(negative ? -ticks : ticks));
        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value)
            ? value
            : throw new FormatException($"invalid duration \"{text}\" (use Go syntax such as 30s, 5m, 1h30m or 2160h)");

    /// <summary>Formats like Go's <c>Duration.String</c> for whole seconds and above ("2160h0m0s" → "2160h").</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        if (value.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            return $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";
        }

        var parts = new List<string>();
        var hours = (long)value.TotalHours;
        if (hours != 0)
        {
            parts.Add($"{hours}h");
        }

        if (value.Minutes != 0)
        {
            parts.Add($"{Math.Abs(value.Minutes)}m");
        }

        if (value.Seconds != 0)
        {
            parts.Add($"{Math.Abs(value.Seconds)}s");
        }

        return string.Concat(parts);
    }
}
