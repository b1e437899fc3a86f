using System.Net;

namespace McpTunnel.Credentials.Api;

/// <summary>
/// A Tunnels API or token-exchange call failed. <see cref="Exception.Message"/> is written for the operator:
/// what failed, what the API said, what to check, and the <c>request_id</c> to quote to support.
/// </summary>
public sealed class TunnelsApiException : CredentialsException
{
    public TunnelsApiException(string message, HttpStatusCode? status, Exception? inner = null)
        : base(message, inner ?? new InvalidOperationException(message))
    {
        Status = status;
    }

    public HttpStatusCode? Status { get; }

    /// <summary>Worth retrying: the request may succeed unchanged later.</summary>
    public bool IsTransient => Status is null
        || Status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
        || (int)Status.Value >= 500;
}
