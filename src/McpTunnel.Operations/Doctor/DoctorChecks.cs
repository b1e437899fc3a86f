using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using CliWrap.Buffered;
using McpTunnel.Configuration;
using McpTunnel.Connector;
using McpTunnel.Credentials;
using McpTunnel.Gateway;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Tls;
using McpTunnel.Gateway.Upstream;

namespace McpTunnel.Operations.Doctor;

/// <summary>
/// The checks of <c>mcp-tunnel doctor</c>: every hop from this host, in layer order, each pass, fail or skip, with
/// why and what to do. Outbound checks take their targets from the options, use short timeouts and report
/// "unreachable" instead of hanging. Each check goes the way the service goes: the routes through the gateway's
/// own upstream client (lookup, IP policy, dial, https identity and trust), cloudflared with the command line
/// <c>run</c> would give it, the certificate through the same requirement check as <c>cert inspect</c>.
/// </summary>
public static class DoctorChecks
{
    /// <summary>What a failed outbound check adds to its fix, for hosts that are meant to be offline.</summary>
    internal const string OfflineHint = "if this host is offline by design, skip this check: doctor --offline, or appliance.offline: true in the config";

    public static async Task<IReadOnlyList<DoctorCheck>> RunAsync(DoctorOptions args, CancellationToken cancellationToken)
    {
        var checks = new List<DoctorCheck>();
        var path = args.ConfigPath;
        var loaded = args.Config;
        var config = loaded.Config;
        checks.Add(config is null
            ? new DoctorCheck("config", DoctorCheck.Fail, string.Join("; ", loaded.Errors.Select(e => e.ToString())), $"fix the file, then check it with: mcp-tunnel config validate --config {path}")
            : new DoctorCheck("config", DoctorCheck.Pass, $"{path}: {config.Routes.Count} route(s), listen_addr {config.ListenAddr}{(loaded.Warnings.Any() ? $", {loaded.Warnings.Count()} warning(s)" : "")}"));

        var dataDir = config?.Appliance.DataDir ?? DataDirectory.DefaultPath;
        checks.AddRange(CheckDataDirectory(dataDir));
        if (config is not null)
        {
            checks.AddRange(CheckCertificates(config, args.Time.GetUtcNow()));
        }

        checks.Add(CheckToken(dataDir, args.Environment));
        if (config is not null)
        {
            checks.Add(await CheckCloudflaredAsync(config, args.Cloudflared, args.Timeout, cancellationToken).ConfigureAwait(false));
            checks.Add(await CheckLoopbackProbeAsync(config, args.Timeout, cancellationToken).ConfigureAwait(false));
            var (upstreams, trustProblem) = UpstreamClientFor(config, args.UpstreamResolver);
            using (upstreams)
            {
                foreach (var (name, upstream) in config.Routes.OrderBy(r => r.Key, StringComparer.Ordinal))
                {
                    checks.AddRange(await CheckRouteAsync(name, upstream, config, upstreams, trustProblem, args, cancellationToken).ConfigureAwait(false));
                }
            }
        }

        if (args.Offline || config?.Appliance.Offline == true)
        {
            var why = args.Offline ? "--offline" : "appliance.offline is true";
            checks.Add(new DoctorCheck("outbound api", DoctorCheck.Skip, $"skipped (offline): {why}"));
            checks.Add(new DoctorCheck("outbound edge", DoctorCheck.Skip, $"skipped (offline): {why}"));
        }
        else
        {
            checks.Add(await CheckOutboundAsync("outbound api", args.ApiTarget, $"the setup component's API calls (setup init) need HTTPS to the Claude API; {OfflineHint}", args.Timeout, cancellationToken).ConfigureAwait(false));
            checks.Add(await CheckOutboundAsync("outbound edge", args.EdgeTarget, $"cloudflared needs egress to the tunnel edge on 7844 (TCP and UDP); open it in the firewall; {OfflineHint}", args.Timeout, cancellationToken).ConfigureAwait(false));
        }

        return checks;
    }

    private static IEnumerable<DoctorCheck> CheckDataDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            yield return new DoctorCheck("data directory", DoctorCheck.Fail, $"{directory} does not exist", "run mcp-tunnel setup init (or cert init) as the service user");
            yield break;
        }

        var mode = File.GetUnixFileMode(directory);
        var open = (mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0;
        yield return open
            ? new DoctorCheck("data directory", DoctorCheck.Fail, $"{directory} is mode {Octal(mode)}: others can list or read it", $"chmod 0700 {directory}")
            : new DoctorCheck("data directory", DoctorCheck.Pass, $"{directory} mode {Octal(mode)}");

        var exposed = Directory.EnumerateFiles(directory)
            .Where(f => (File.GetUnixFileMode(f) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
            .Select(Path.GetFileName).ToList();
        yield return exposed.Count == 0
            ? new DoctorCheck("file modes", DoctorCheck.Pass, "no credential file is readable by group or others")
            : new DoctorCheck("file modes", DoctorCheck.Fail, $"readable by group or others: {string.Join(", ", exposed)}", $"chmod 0600 {directory}/*");
    }

    private static List<DoctorCheck> CheckCertificates(GatewayConfig config, DateTimeOffset now)
    {
        string certPem, keyPem;
        try
        {
            certPem = File.ReadAllText(config.Tls.CertFile);
            keyPem = File.ReadAllText(config.Tls.KeyFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [new DoctorCheck("certificate", DoctorCheck.Fail, ex.Message, "run mcp-tunnel setup renew-cert, or fix the paths in tls:")];
        }

        var caFile = DataDirectory.CaBeside(config.Tls.CertFile);
        var caPem = File.Exists(caFile) ? File.ReadAllText(caFile) : null;
        var domain = config.TunnelDomain.Length > 0 ? config.TunnelDomain : null;
        var results = CertificateInspector.CheckServer(certPem, keyPem, caPem, domain, now);
        var failed = results.Where(r => !r.Passed).ToList();
        var checks = new List<DoctorCheck>
        {
            failed.Count == 0
                ? new DoctorCheck("certificate", DoctorCheck.Pass, $"{results.Count} requirements met{(caPem is null ? " (no ca.crt beside tls.crt: the CA link was not checked)" : "")}")
                : new DoctorCheck("certificate", DoctorCheck.Fail, string.Join("; ", failed.Select(f => $"{f.Requirement}: {f.Detail}")), failed[0].Fix),
        };
        var notAfter = CertificateInspector.NotAfter(certPem);
        var left = notAfter - now;
        checks.Add(left > TimeSpan.FromDays(7)
            ? new DoctorCheck("certificate expiry", DoctorCheck.Pass, $"valid until {notAfter:yyyy-MM-dd} ({(int)left.TotalDays} days)")
            : new DoctorCheck("certificate expiry", DoctorCheck.Fail, $"expires {notAfter:yyyy-MM-dd HH:mm} UTC", "mcp-tunnel setup renew-cert (check the renewal timer)"));
        return checks;
    }

    private static DoctorCheck CheckToken(string dataDir, Func<string, string?> environment)
    {
        var source = TokenSource.Find(dataDir, environment);
        string? token = null;
        if (source is not null)
        {
            try
            {
                token = File.ReadAllText(source.Path).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return new DoctorCheck("tunnel token", DoctorCheck.Fail, $"{source.Description}: {ex.Message}", "run doctor as the service user, or fix the file's owner");
            }
        }
        else if (environment("TUNNEL_TOKEN") is { Length: > 0 } value)
        {
            token = value.Trim();
        }

        if (string.IsNullOrEmpty(token))
        {
            return new DoctorCheck("tunnel token", DoctorCheck.Fail, "no token: no systemd credential, no tunnel-token file, no TUNNEL_TOKEN", "mcp-tunnel setup init, or store the token from the Console: mcp-tunnel token set < token.txt");
        }

        // The same check token set makes before storing a token.
        if (TunnelToken.Problem(token) is { } problem)
        {
            return new DoctorCheck("tunnel token", DoctorCheck.Fail, $"present ({source?.Description ?? "TUNNEL_TOKEN"}) but not a connector token (base64 JSON): {problem}; it may be truncated", "copy the whole value again (it starts with eyJ): mcp-tunnel token set < token.txt");
        }

        // The value itself is never printed.
        return new DoctorCheck("tunnel token", DoctorCheck.Pass, $"present and well-formed ({source?.Description ?? "TUNNEL_TOKEN"})");
    }

    /// <summary>
    /// The cloudflared binary: its release against the supported minimum (in <c>run</c>'s words), then the exact
    /// command line <c>run</c> would give it, with <c>--help</c> added: cloudflared parses every flag before it shows
    /// help, so a flag it does not know prints "Incorrect Usage" instead (and that is what <c>run</c> would get).
    /// </summary>
    private static async Task<DoctorCheck> CheckCloudflaredAsync(GatewayConfig config, Func<GatewayConfig, CloudflaredOptions> setup, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var binary = config.Appliance.Cloudflared.Binary;
        if (!config.Appliance.Cloudflared.Enabled)
        {
            return new DoctorCheck("cloudflared", DoctorCheck.Skip, "appliance.cloudflared.enabled is false (runs elsewhere)");
        }

        if (!File.Exists(binary))
        {
            return new DoctorCheck("cloudflared", DoctorCheck.Fail, $"{binary} not found", "install the package's cloudflared, or set appliance.cloudflared.binary");
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout + TimeSpan.FromSeconds(10));
        var (version, output, failure) = await CloudflaredSupervisor.ReadVersionAsync(binary, cts.Token).ConfigureAwait(false);
        var redactor = new TokenRedactor();
        if (failure is not null)
        {
            return new DoctorCheck("cloudflared", DoctorCheck.Fail, $"{binary} --version: {redactor.Redact(failure)}", "check that it is executable and built for this machine; reinstall the package");
        }

        if (version is { Supported: false } old)
        {
            return new DoctorCheck("cloudflared", DoctorCheck.Fail, CloudflaredVersion.TooOld(old.ToString(), binary), $"install cloudflared {CloudflaredVersion.Minimum} or newer (the package's)");
        }

        var args = CloudflaredArguments.Build(setup(config), version);
        try
        {
            var result = await ChildLauncher.Command(binary).WithArguments([.. args, "--help"]).WithEnvironmentVariables(CloudflaredArguments.EnvironmentRemovals())
                .ExecuteBufferedAsync(cts.Token).ConfigureAwait(false);
            var help = result.StandardOutput;
            var usage = System.Text.RegularExpressions.Regex.Match(help, @"Incorrect Usage[.:] ([^\n]+)");
            if (usage.Success)
            {
                return new DoctorCheck("cloudflared", DoctorCheck.Fail,
                    $"{binary} ({redactor.Redact(output)}) rejects the command line mcp-tunnel run gives it: {redactor.Redact(usage.Groups[1].Value.Trim())}",
                    $"install cloudflared {CloudflaredVersion.Minimum} or newer whose --version names its release (the package's)");
            }

            return result.ExitCode == 0 && help.Contains("cloudflared tunnel run", StringComparison.Ordinal)
                ? new DoctorCheck("cloudflared", DoctorCheck.Pass, $"{binary}: {redactor.Redact(output)}; accepts the command line of mcp-tunnel run: {string.Join(' ', args)}")
                : new DoctorCheck("cloudflared", DoctorCheck.Fail, $"{binary} did not show the help of `tunnel run` for run's command line (exit {result.ExitCode}): {redactor.Redact((help + result.StandardError).Trim().Split('\n')[0])}",
                    "an environment variable cloudflared reads may have a bad value, or this is not cloudflared; reinstall the package");
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new DoctorCheck("cloudflared", DoctorCheck.Fail, $"{binary} tunnel ... run --help: {ex.Message}", "check that it is executable and built for this machine");
        }
    }

    private static async Task<DoctorCheck> CheckLoopbackProbeAsync(GatewayConfig config, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var gateway = new Uri(EdgeClient.GatewayUri(config.ListenAddr));
        var caFile = DataDirectory.CaBeside(config.Tls.CertFile);
        var host = config.TunnelDomain.Length > 0 ? $"doctor.{config.TunnelDomain}" : config.Routes.Keys.FirstOrDefault() ?? "localhost";
        X509Certificate2Collection? cas = null;
        if (File.Exists(caFile))
        {
            cas = [];
            cas.ImportFromPemFile(caFile);
        }

        try
        {
            await using var connection = await EdgeClient.ConnectAsync(new EdgeConnectOptions
            {
                Gateway = gateway,
                TrustedCas = cas,
                SkipVerification = cas is null,
                ConnectTimeout = timeout,
            }, host, cancellationToken).ConfigureAwait(false);
            return new DoctorCheck("gateway probe", DoctorCheck.Pass,
                $"WebSocket {connection.WebSocketConnect.TotalMilliseconds:0} ms, inner {connection.Stream.SslProtocol} {connection.TlsHandshake.TotalMilliseconds:0} ms{(cas is null ? " (certificate not verified: no ca.crt)" : ", certificate verified against ca.crt")}");
        }
        catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or HttpRequestException or IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
        {
            return new DoctorCheck("gateway probe", DoctorCheck.Fail, $"{gateway}: {ex.Message}",
                ex is System.Security.Authentication.AuthenticationException ? "tls.crt does not chain to ca.crt or does not cover the tunnel domain: mcp-tunnel cert inspect" : "is the service running? systemctl status mcp-tunnel");
        }
    }

    /// <summary>
    /// The gateway's own upstream client (IP policy, trust, connector, pool), so that each route is checked on
    /// exactly the path its requests take. When <c>upstream.tls.ca_file</c> cannot be used, a client that trusts
    /// nothing still checks the http routes, and the problem is reported for the https ones.
    /// </summary>
    private static (UpstreamClient Client, string? TrustProblem) UpstreamClientFor(GatewayConfig config, Func<string, CancellationToken, Task<IPAddress[]>>? resolve)
    {
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        try
        {
            return (new UpstreamClient(config, new GatewayMetrics(), logger, resolve), null);
        }
        catch (CertificateLoadException ex)
        {
            var trustNothing = config with { Upstream = config.Upstream with { CaFile = null, IncludeSystemCas = false } };
            return (new UpstreamClient(trustNothing, new GatewayMetrics(), logger, resolve), ex.Message);
        }
    }

    /// <summary>The inner Host the edge sends for a route: its key under the tunnel domain, or the key itself when it is a full host name.</summary>
    internal static string EdgeHost(string route, GatewayConfig config) =>
        config.TunnelDomain.Length == 0 || route.Contains('.', StringComparison.Ordinal) ? route : $"{route}.{config.TunnelDomain}";

    private static async Task<List<DoctorCheck>> CheckRouteAsync(string name, UpstreamTarget upstream, GatewayConfig config, UpstreamClient upstreams, string? trustProblem, DoctorOptions args, CancellationToken cancellationToken)
    {
        var label = $"route {name}";
        var checks = new List<DoctorCheck>();
        var connector = upstreams.Connector;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(args.Timeout);
        IPAddress[] addresses;
        try
        {
            addresses = await connector.LookupAsync(upstream.Host, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is UpstreamDialException or OperationCanceledException)
        {
            checks.Add(new DoctorCheck($"{label} dns", DoctorCheck.Fail, ex is OperationCanceledException ? $"lookup {upstream.Host}: no answer within {args.Timeout.TotalSeconds:0.#}s" : ex.Message,
                ex.Message.Contains("no IPv4", StringComparison.Ordinal) ? "upstreams are dialled over IPv4 only" : "check the name, or the host's resolver"));
            return checks;
        }

        checks.Add(new DoctorCheck($"{label} dns", DoctorCheck.Pass, $"{upstream.Host} -> {string.Join(", ", addresses.Select(a => a.ToString()))}"));
        try
        {
            connector.CheckPolicy(upstream.Host, addresses);
        }
        catch (UpstreamIpRejectedException ex)
        {
            checks.Add(new DoctorCheck($"{label} ip policy", DoctorCheck.Fail, $"{ex.Message} (allowed: {connector.Policy.Description})", $"add the narrowest CIDR (e.g. {ex.Address}/32) to upstream.allowed_ips"));
            return checks;
        }

        checks.Add(new DoctorCheck($"{label} ip policy", DoctorCheck.Pass, $"allowed by {string.Join(", ", addresses.Select(a => connector.Policy.MatchingRule(a)).Distinct())}"));
        var started = Stopwatch.GetTimestamp();
        Stream connection;
        try
        {
            connection = await connector.ConnectAsync(upstream.Host, upstream.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is UpstreamDialException or OperationCanceledException)
        {
            checks.Add(new DoctorCheck($"{label} tcp", DoctorCheck.Fail, ex is OperationCanceledException ? $"{upstream.Host}:{upstream.Port}: timed out (unreachable)" : ex.Message, "is the MCP server running and listening on that address?"));
            return checks;
        }

        await using (connection.ConfigureAwait(false))
        {
            checks.Add(new DoctorCheck($"{label} tcp", DoctorCheck.Pass, $"{upstream.Host}:{upstream.Port} in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms"));
            if (upstream.IsHttps)
            {
                if (trustProblem is not null)
                {
                    checks.Add(new DoctorCheck($"{label} tls", DoctorCheck.Fail, trustProblem, "point upstream.tls.ca_file at a PEM bundle of CA certificates"));
                    return checks;
                }

                // The handshake the gateway makes: the route URL's host as the server name, the gateway's trust.
                try
                {
                    started = Stopwatch.GetTimestamp();
                    using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    handshakeTimeout.CancelAfter(args.Timeout);
                    await using var tls = await connector.AuthenticateAsync(connection, upstream.Host, upstream.Port, [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11], handshakeTimeout.Token).ConfigureAwait(false);
                    checks.Add(new DoctorCheck($"{label} tls", DoctorCheck.Pass,
                        $"{tls.SslProtocol}, certificate for {upstream.Host} verified ({(config.Upstream.CaFile is null ? "" : "upstream.tls.ca_file")}{(config.Upstream.CaFile is not null && config.Upstream.IncludeSystemCas ? " + " : "")}{(config.Upstream.IncludeSystemCas ? "system CAs" : "")}) in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms"));
                }
                catch (Exception ex) when (ex is UpstreamDialException or OperationCanceledException)
                {
                    checks.Add(new DoctorCheck($"{label} tls", DoctorCheck.Fail, ex is OperationCanceledException ? "TLS handshake timed out" : ex.Message,
                        $"the certificate must name {upstream.Host} (an IP address needs an IP SAN) and chain to upstream.tls.ca_file{(config.Upstream.IncludeSystemCas ? " or a system CA" : "")}"));
                    return checks;
                }
            }
        }

        // The request itself goes through the gateway's client, with the Host header the edge sends: the
        // same pool, connector and TLS as a forwarded request.
        using var request = McpInitialize.NewRequest(new Uri($"{upstream.DestinationPrefix}{args.McpPath}"), "mcp-tunnel-doctor");
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;
        request.Headers.Host = EdgeHost(name, config);
        request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "https");
        try
        {
            using var requestTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            requestTimeout.CancelAfter(args.Timeout);
            using var response = await upstreams.Invoker.SendAsync(request, requestTimeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var via = $"initialize on {args.McpPath} (Host {request.Headers.Host}, HTTP/{response.Version})";
            checks.Add(response.IsSuccessStatusCode
                ? new DoctorCheck($"{label} mcp", DoctorCheck.Pass, $"{via}: HTTP {status}")
                : status == 401
                    ? new DoctorCheck($"{label} mcp", DoctorCheck.Pass, $"{via}: HTTP 401 (the server wants OAuth; Claude authenticates end to end)")
                    : new DoctorCheck($"{label} mcp", DoctorCheck.Fail, $"{via}: HTTP {status}", status == 404 ? "wrong path? pass --path (FastMCP serves /mcp)" : "see the MCP server's log"));
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            checks.Add(new DoctorCheck($"{label} mcp", DoctorCheck.Fail, $"initialize: {(ex is OperationCanceledException ? $"no answer within {args.Timeout.TotalSeconds:0.#}s" : ExceptionChain.Innermost(ex).Message)}", "see the MCP server's log"));
        }

        return checks;
    }

    private static async Task<DoctorCheck> CheckOutboundAsync(string name, string target, string fix, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var colon = target.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(target.AsSpan(colon + 1), out var port))
        {
            return new DoctorCheck(name, DoctorCheck.Fail, $"\"{target}\" is not host:port", "pass host:port");
        }

        var host = target[..colon].Trim('[', ']');
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            return new DoctorCheck(name, DoctorCheck.Pass, $"{target} reachable in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms (TCP)");
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return new DoctorCheck(name, DoctorCheck.Fail, $"{target} unreachable: {(ex is OperationCanceledException ? $"no answer within {timeout.TotalSeconds:0.#}s" : ex.Message)}", fix);
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');
}
