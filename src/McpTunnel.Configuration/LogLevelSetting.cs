namespace McpTunnel.Configuration;

/// <summary>
/// <c>log_level</c>: the least severe lines written. Read once from the file's text (which also takes
/// <c>warning</c>, as Go's loggers do); everything downstream maps this value, nothing parses the word again.
/// </summary>
public enum LogLevelSetting
{
    Debug,
    Info,
    Warn,
    Error,
}
