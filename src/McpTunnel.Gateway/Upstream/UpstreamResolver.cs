using System.Net;

namespace McpTunnel.Gateway.Upstream;

/// <summary>
/// Replaces the system resolver for upstream names (tests map names such as <c>up.internal</c> to loopback).
/// The IP policy still applies to whatever it answers.
/// </summary>
public sealed record UpstreamResolver(Func<string, CancellationToken, Task<IPAddress[]>> Resolve);
