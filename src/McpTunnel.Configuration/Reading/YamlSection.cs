using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace McpTunnel.Configuration.Reading;

/// <summary>
/// The known fields of one YAML mapping (see <see cref="ReadContext.Section"/>), with typed reads that report a bad
/// value at its line and column under its full name (<c>prefix</c> + field, as in <c>appliance.upgrade_timeout</c>)
/// and return the fallback, so reading goes on.
/// </summary>
internal sealed class YamlSection(ReadContext context, string prefix, Dictionary<string, (YamlNode Key, YamlNode Value)> fields)
{
    /// <summary>The largest connection or session limit accepted: the kernel's default ceiling for open files (fs.nr_open).</summary>
    private const int MaxCount = 1 << 20;

    public ReadContext Context => context;

    /// <summary>The field's full name in messages.</summary>
    public string PathOf(string name) => prefix + name;

    public bool Has(string name) => fields.ContainsKey(name);

    /// <summary>The field's value node; null when the field is absent.</summary>
    public YamlNode? Value(string name) => fields.TryGetValue(name, out var field) ? field.Value : null;

    /// <summary>The field's key node; null when the field is absent.</summary>
    public YamlNode? Key(string name) => fields.TryGetValue(name, out var field) ? field.Key : null;

    /// <summary>An error at the field's value.</summary>
    public void Error(string name, string message) => context.Error(Value(name), PathOf(name), message);

    /// <summary>A warning at the field's value.</summary>
    public void Warn(string name, string message) => context.Warn(Value(name), PathOf(name), message);

    /// <summary>The field's text ("" for an empty value); null when absent or not a single value (an error).</summary>
    public string? Scalar(string name)
    {
        if (!fields.TryGetValue(name, out var field))
        {
            return null;
        }

        if (field.Value is YamlScalarNode scalar)
        {
            return scalar.Value ?? "";
        }

        Error(name, $"must be a single value, not a {Kind(field.Value)}");
        return null;
    }

    /// <summary>YAML 1.1's words for true and false, as Go's decoder takes them; false when absent or empty.</summary>
    public bool Bool(string name)
    {
        var text = Scalar(name);
        if (text is null)
        {
            return false;
        }

        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "yes" or "on":
                return true;
            case "false" or "no" or "off" or "":
                return false;
            default:
                Error(name, $"\"{text}\" is not a boolean; use true or false");
                return false;
        }
    }

    /// <summary>A Go duration (<c>30s</c>, <c>1h30m</c>); <paramref name="fallback"/> when absent or invalid.</summary>
    public TimeSpan Duration(string name, TimeSpan fallback, bool allowZero)
    {
        var text = Scalar(name);
        if (text is null)
        {
            return fallback;
        }

        if (!GoDuration.TryParse(text, out var value) || value < TimeSpan.Zero)
        {
            Error(name, $"invalid duration \"{text}\"; write it like 30s, 5m or 1h30m (a number alone is not a duration)");
            return fallback;
        }

        if (!allowZero && value == TimeSpan.Zero)
        {
            Error(name, "must be greater than zero");
            return fallback;
        }

        return value;
    }

    /// <summary>A connection count for a limit: a whole number from <paramref name="minimum"/> to <see cref="MaxCount"/>; null when not set.</summary>
    public int? Count(string name, int minimum)
    {
        var text = Scalar(name);
        if (text is null)
        {
            return null;
        }

        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= minimum && value <= MaxCount)
        {
            return value;
        }

        Error(name, $"\"{text}\" must be a whole number from {minimum} to {MaxCount}; leave it out to derive it from the descriptor limit (LimitNOFILE)");
        return null;
    }

    /// <summary>
    /// A field that holds a mapping of its own, as a section (null when the field is absent or empty). False, with an
    /// error at the value, when it holds something else.
    /// </summary>
    public bool TryNested(string name, string notAMapping, string[] known, bool strict, out YamlSection? section)
    {
        section = null;
        var value = Value(name);
        if (value is null or YamlScalarNode { Value: null or "" })
        {
            return true;
        }

        if (value is not YamlMappingNode map)
        {
            Error(name, notAMapping);
            return false;
        }

        section = context.Section(map, PathOf(name) + ".", known, strict);
        return true;
    }

    private static string Kind(YamlNode node) => node switch
    {
        YamlSequenceNode => "list",
        YamlMappingNode => "mapping",
        _ => "value",
    };
}
