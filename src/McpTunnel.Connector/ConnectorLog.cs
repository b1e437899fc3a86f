using System.Collections;
using System.Text;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Connector;

/// <summary>
/// The supervisor's log lines (stable strings; never a token). Each message is constant text followed by
/// <c>key={Value}</c> pairs, so the logfmt output is <c>msg="cloudflared exited" code=1 retry_in=1s</c>.
/// </summary>
internal static partial class ConnectorLog
{
    [LoggerMessage(2000, LogLevel.Information, "cloudflared starting binary={Binary} version={Version} url={Url} metrics={Metrics} token={TokenSource}")]
    public static partial void Starting(ILogger logger, string binary, string version, string url, string metrics, string tokenSource);

    [LoggerMessage(2001, LogLevel.Information, "cloudflared ready: the tunnel has registered edge connections")]
    public static partial void Ready(ILogger logger);

    [LoggerMessage(2002, LogLevel.Warning, "cloudflared not ready: no registered edge connection (it keeps retrying by itself)")]
    public static partial void NotReady(ILogger logger);

    [LoggerMessage(2003, LogLevel.Warning, "cloudflared exited code={Code} retry_in={RetryIn}")]
    public static partial void Exited(ILogger logger, int code, string retryIn);

    [LoggerMessage(2004, LogLevel.Error, "cloudflared configuration problem code={Code} reason={Reason} retry_in={RetryIn}")]
    public static partial void ConfigurationProblem(ILogger logger, int code, string reason, string retryIn);

    [LoggerMessage(2005, LogLevel.Information, "cloudflared stopping grace={Grace}")]
    public static partial void Stopping(ILogger logger, string grace);

    [LoggerMessage(2006, LogLevel.Warning, "cloudflared did not stop within its grace period; killed waited={Waited}")]
    public static partial void Killed(ILogger logger, string waited);

    [LoggerMessage(2007, LogLevel.Information, "cloudflared stopped code={Code}")]
    public static partial void Stopped(ILogger logger, int code);

    [LoggerMessage(2008, LogLevel.Information, "tunnel token changed; restarting cloudflared gracefully: a new cloudflared starts with it, the old one stops once the new one is connected")]
    public static partial void TokenChanged(ILogger logger);

    [LoggerMessage(2009, LogLevel.Error, "cannot start cloudflared reason={Reason}")]
    public static partial void CannotStart(ILogger logger, string reason);

    [LoggerMessage(2011, LogLevel.Error, "cloudflared version unsupported found={Found} needed={Needed} problem={Problem}")]
    public static partial void Unsupported(ILogger logger, string found, string needed, string problem);

    [LoggerMessage(2012, LogLevel.Warning, "cloudflared version unknown; giving it the full command line version_output={Output}")]
    public static partial void VersionUnknown(ILogger logger, string output);

    [LoggerMessage(2013, LogLevel.Error, "cloudflared rejected its command line error={Error} version={Version} fix={Fix}")]
    public static partial void CommandLineRejected(ILogger logger, string error, string version, string fix);

    [LoggerMessage(2014, LogLevel.Information, "cloudflared binary changed; checking it again binary={Binary}")]
    public static partial void BinaryChanged(ILogger logger, string binary);

    [LoggerMessage(2015, LogLevel.Information, "token rotation: the new cloudflared is connected; stopping the previous one pid={Pid}")]
    public static partial void Rotated(ILogger logger, int pid);

    [LoggerMessage(2016, LogLevel.Error, "token rotation failed; the previous cloudflared keeps serving reason={Reason}")]
    public static partial void RotationFailed(ILogger logger, string reason);

    [LoggerMessage(2017, LogLevel.Error, "cannot run cloudflared --version binary={Binary} reason={Reason}")]
    public static partial void VersionFailed(ILogger logger, string binary, string reason);

    private static readonly EventId ChildEventId = new(2010, nameof(Child));

    /// <summary>
    /// One event of cloudflared's own log, at its level, with its fields as fields
    /// (<c>msg="cloudflared: Registered tunnel connection" connIndex=0 …</c>); already redacted.
    /// </summary>
    public static void Child(ILogger logger, LogLevel level, CloudflaredEvent e)
    {
        if (logger.IsEnabled(level))
        {
            logger.Log(level, ChildEventId, new ChildState(e), null, static (state, _) => state.Rendered);
        }
    }

    /// <summary>
    /// The state handed to the logging provider: a message template built from the event's field names, and the
    /// values, which Serilog turns into properties.
    /// </summary>
    private sealed class ChildState : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly List<KeyValuePair<string, object?>> _items = [];

        public ChildState(CloudflaredEvent e)
        {
            Rendered = $"cloudflared: {e.Message}";
            var template = new StringBuilder("cloudflared: {Line}");
            _items.Add(new("Line", e.Message));
            foreach (var (key, value) in e.Fields)
            {
                var name = PropertyName(key);
                if (_items.Any(i => i.Key == name))
                {
                    continue;
                }

                template.Append(' ').Append(name).Append("={").Append(name).Append('}');
                _items.Add(new(name, value));
            }

            if (e.Broken)
            {
                template.Append(" broken={Broken}");
                _items.Add(new("Broken", true));
            }

            _items.Add(new("{OriginalFormat}", template.ToString()));
        }

        /// <summary>What providers without templates show: the message alone (the fields are properties).</summary>
        public string Rendered { get; }

        public int Count => _items.Count;

        public KeyValuePair<string, object?> this[int index] => _items[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _items.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => Rendered;

        /// <summary>A message-template property name: letters, digits and underscores.</summary>
        private static string PropertyName(string key)
        {
            var name = new StringBuilder(key.Length);
            foreach (var c in key)
            {
                name.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
            }

            return name.Length == 0 || name.ToString() is "Line" or "Broken" ? "field_" + name : name.ToString();
        }
    }
}
