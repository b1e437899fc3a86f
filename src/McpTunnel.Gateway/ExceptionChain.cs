namespace McpTunnel.Gateway;

/// <summary>
/// Walks an exception and its inner exceptions, for the messages the gateway, <c>probe</c>, <c>doctor</c> and the log
/// formatter print. .NET wraps the cause a user can act on (a refused connection, an unknown CA) in one or more
/// general exceptions ("The SSL connection could not be established, see inner exception"), so each of them needs
/// the chain, and one walk keeps their words consistent.
/// </summary>
public static class ExceptionChain
{
    /// <summary>The exception, then each inner exception in turn (outermost first); empty for null.</summary>
    public static IEnumerable<Exception> Of(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            yield return e;
        }
    }

    /// <summary>The innermost exception: usually the one that names the cause.</summary>
    public static Exception Innermost(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner;
    }

    /// <summary>The first exception of type <typeparamref name="T"/> in the chain, or null.</summary>
    public static T? Find<T>(Exception? exception) where T : Exception => Of(exception).OfType<T>().FirstOrDefault();

    /// <summary>
    /// Every message of the chain, outermost first, each without its closing period and each once, joined by
    /// <c>": "</c> (as Go joins wrapped errors): <c>The SSL connection could not be established: ... unknown ca</c>.
    /// </summary>
    public static string Describe(Exception exception) =>
        string.Join(": ", Of(exception).Select(e => e.Message.TrimEnd('.')).Distinct());

    /// <summary>
    /// The innermost message that says something, without its closing period: the general ones that only point at
    /// their inner exception ("..., see inner exception") are passed over. Null when none is left.
    /// </summary>
    public static string? InnermostMessage(Exception? exception) =>
        Of(exception).Select(e => e.Message).Where(m => !m.Contains("see inner exception", StringComparison.OrdinalIgnoreCase)).Select(m => m.TrimEnd('.')).LastOrDefault();
}
