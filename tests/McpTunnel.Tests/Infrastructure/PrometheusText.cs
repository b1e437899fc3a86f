using System.Globalization;
using System.Text;

namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A strict parser of the Prometheus text exposition format (version 0.0.4): <c># HELP</c>, <c># TYPE</c>, and
/// samples <c>name{label="value",...} value [timestamp]</c> with the format's escapes. Anything else is an error,
/// so a malformed /metrics fails the test that reads it.
/// </summary>
public sealed class PrometheusText
{
    private PrometheusText(List<Sample> samples, Dictionary<string, string> types)
    {
        Samples = samples;
        Types = types;
    }

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public IReadOnlyList<Sample> Samples { get; }

    /// <summary>Metric family name to its <c># TYPE</c>.</summary>
    public IReadOnlyDictionary<string, string> Types { get; }

    /// <summary>The samples of <paramref name="name"/> whose labels include every pair given.</summary>
    public IEnumerable<Sample> Find(string name, params (string Key, string Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value));

    /// <summary>The one sample of <paramref name="name"/> with these labels; fails when there is none or several.</summary>
    public double Value(string name, params (string Key, string Value)[] labels) => Assert.Single(Find(name, labels)).Value;

    public static PrometheusText Parse(string text)
    {
        var samples = new List<Sample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 4 && parts[1] == "TYPE")
                {
                    Assert.Contains(parts[3], new[] { "counter", "gauge", "histogram", "summary", "untyped" });
                    Assert.True(types.TryAdd(parts[2], parts[3]), $"line {lineNumber}: a second TYPE for {parts[2]}");
                }

                // HELP and any other comment carry no samples (the format says to ignore them).
                continue;
            }

            samples.Add(ParseSample(line, lineNumber));
        }

        return new PrometheusText(samples, types);
    }

    private static Sample ParseSample(string line, int lineNumber)
    {
        var i = 0;
        while (i < line.Length && IsNameChar(line[i], i == 0))
        {
            i++;
        }

        Assert.True(i > 0, $"line {lineNumber}: no metric name: {line}");
        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var start = i;
                while (IsNameChar(line[i], i == start))
                {
                    i++;
                }

                var key = line[start..i];
                Assert.True(key.Length > 0 && line[i] == '=' && line[i + 1] == '"', $"line {lineNumber}: bad label at {start}: {line}");
                i += 2;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] switch
                        {
                            'n' => '\n',
                            '\\' => '\\',
                            '"' => '"',
                            _ => throw new FormatException($"line {lineNumber}: bad escape \\{line[i]}"),
                        });
                    }
                    else
                    {
                        value.Append(line[i]);
                    }

                    i++;
                }

                i++;
                Assert.True(labels.TryAdd(key, value.ToString()), $"line {lineNumber}: label {key} twice");
                if (line[i] == ',')
                {
                    i++;
                }
            }

            i++;
        }

        Assert.True(i < line.Length && line[i] == ' ', $"line {lineNumber}: no value: {line}");
        var rest = line[(i + 1)..].Split(' ');
        Assert.True(rest.Length is 1 or 2, $"line {lineNumber}: trailing text: {line}");
        var value2 = rest[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        if (rest.Length == 2)
        {
            Assert.True(long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _), $"line {lineNumber}: bad timestamp: {line}");
        }

        return new Sample(name, labels, value2);
    }

    private static bool IsNameChar(char c, bool first) => char.IsAsciiLetter(c) || c is '_' or ':' || (!first && char.IsAsciiDigit(c));
}
