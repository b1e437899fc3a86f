namespace McpTunnel.Gateway.Upstream;

/// <summary>The upstream could not be reached (lookup failed, refused, unreachable): the caller gets 502.</summary>
public class UpstreamDialException : Exception
{
    public UpstreamDialException(string message) : base(message) { }

    public UpstreamDialException(string message, Exception inner) : base(message, inner) { }
}
