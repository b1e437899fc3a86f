using System.Globalization;
using System.Text.RegularExpressions;

namespace FakeCloudflared;

/// <summary>
/// One command level's flags, parsed the way urfave/cli v2 does it on top of Go's flag package: environment twins
/// are applied first (a bad value there fails the whole flag set), then <c>-name</c>, <c>--name</c>,
/// <c>--name=value</c> and <c>--name value</c> until the first argument that is not a flag (or <c>--</c>).
/// Error texts are Go's (flag.go): <c>flag provided but not defined: -x</c>, <c>invalid value "25" for flag
/// -grace-period: parse error</c>, <c>flag needs an argument: -x</c>.
/// </summary>
internal sealed partial class CommandLine
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);

    private CommandLine(IReadOnlyList<Flag> flags) => Flags = flags;

    public IReadOnlyList<Flag> Flags { get; }

    /// <summary>Arguments after the flags (the subcommand and what follows it, or positional arguments).</summary>
    public IReadOnlyList<string> Rest { get; private set; } = [];

    /// <summary>A flag set from the environment that could not be parsed (urfave/cli fails the flag set).</summary>
    public string? EnvironmentError { get; private set; }

    /// <summary>The command line error, in Go's words.</summary>
    public string? Error { get; private set; }

    public bool HelpRequested => Bool("help");

    public string? this[string name] => _values.GetValueOrDefault(name) ?? Flags.FirstOrDefault(f => f.Name == name)?.Default;

    public bool IsSet(string name) => _set.Contains(name);

    public bool Bool(string name) => this[name] is { } value && ParseBool(value) == true;

    public static CommandLine Parse(IReadOnlyList<Flag> flags, IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var result = new CommandLine(flags);
        foreach (var flag in flags.Where(f => f.Env is not null))
        {
            foreach (var name in flag.Env!)
            {
                if (environment(name) is not { Length: > 0 } value)
                {
                    continue;
                }

                if (Check(flag.Kind, value) is { } problem)
                {
                    result.EnvironmentError = $"could not parse \"{value}\" as {problem} value for flag {flag.Name}: parse error";
                    return result;
                }

                result._values[flag.Name] = value;
                result._set.Add(flag.Name);
                break;
            }
        }

        var i = 0;
        while (i < args.Count)
        {
            var arg = args[i];
            if (arg.Length < 2 || arg[0] != '-')
            {
                break;
            }

            var dashes = arg[1] == '-' ? 2 : 1;
            if (dashes == 2 && arg.Length == 2)
            {
                i++;
                break;
            }

            var name = arg[dashes..];
            if (name.Length == 0 || name[0] is '-' or '=')
            {
                result.Error = $"bad flag syntax: {arg}";
                return result;
            }

            i++;
            string? value = null;
            if (name.IndexOf('=', 1) is var equals and > 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            var flag = flags.FirstOrDefault(f => f.Names.Contains(name));
            if (flag is null)
            {
                result.Error = $"flag provided but not defined: -{name}";
                return result;
            }

            if (flag.Kind == FlagKind.Bool)
            {
                if (value is not null && ParseBool(value) is null)
                {
                    result.Error = $"invalid boolean value \"{value}\" for -{name}: parse error";
                    return result;
                }

                value ??= "true";
            }
            else
            {
                if (value is null && i < args.Count)
                {
                    value = args[i++];
                }

                if (value is null)
                {
                    result.Error = $"flag needs an argument: -{name}";
                    return result;
                }

                if (Check(flag.Kind, value) is not null)
                {
                    result.Error = $"invalid value \"{value}\" for flag -{name}: parse error";
                    return result;
                }
            }

            result._values[flag.Name] = value;
            result._set.Add(flag.Name);
        }

        result.Rest = [.. args.Skip(i)];
        return result;
    }

    /// <summary>Null when <paramref name="value"/> parses as <paramref name="kind"/>, else the kind's name.</summary>
    private static string? Check(FlagKind kind, string value) => kind switch
    {
        FlagKind.Bool => ParseBool(value) is null ? "bool" : null,
        FlagKind.Duration => ParseDuration(value) is null ? "duration" : null,
        FlagKind.Int => long.TryParse(value.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? null : "int",
        FlagKind.Uint => ulong.TryParse(value.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : "uint",
        _ => null,
    };

    /// <summary>Go's strconv.ParseBool.</summary>
    public static bool? ParseBool(string value) => value switch
    {
        "1" or "t" or "T" or "TRUE" or "true" or "True" => true,
        "0" or "f" or "F" or "FALSE" or "false" or "False" => false,
        _ => null,
    };

    /// <summary>Go's time.ParseDuration: a unit is required except for "0" ("25" is an error, "25s" is not).</summary>
    public static TimeSpan? ParseDuration(string value)
    {
        if (value is "0" or "+0" or "-0")
        {
            return TimeSpan.Zero;
        }

        var match = Duration().Match(value);
        if (!match.Success)
        {
            return null;
        }

        var total = 0.0;
        foreach (Capture part in match.Groups["part"].Captures)
        {
            var unit = Unit().Match(part.Value);
            var number = double.Parse(unit.Groups[1].Value, CultureInfo.InvariantCulture);
            total += number * unit.Groups[2].Value switch
            {
                "ns" => 1e-6,
                "us" or "µs" or "μs" => 1e-3,
                "ms" => 1,
                "s" => 1e3,
                "m" => 60e3,
                _ => 3600e3,
            };
        }

        return TimeSpan.FromMilliseconds(value.StartsWith('-') ? -total : total);
    }

    [GeneratedRegex(@"^[-+]?(?<part>(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")]
    private static partial Regex Duration();

    [GeneratedRegex(@"^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)$")]
    private static partial Regex Unit();
}
