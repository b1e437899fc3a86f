using McpTunnel.Commands;
using McpTunnel.Configuration;
using McpTunnel.Credentials;
using McpTunnel.Gateway;
using McpTunnel.Hosting;
using McpTunnel.Logging;
using McpTunnel.Operations;

namespace McpTunnel.Demo;

/// <summary>
/// <c>mcp-tunnel demo</c>: the whole data path on loopback with no account and no network. It makes a
/// throwaway CA and server certificate, starts a sample MCP server and the gateway, then probes the route
/// exactly as the tunnel edge would, and keeps running until Ctrl-C (or exits with <c>--once</c>).
/// </summary>
internal static class DemoCommand
{
    public const string Domain = "demo1234.tunnel.invalid";

    public static async Task<int> RunAsync(bool once, bool verbose, TextWriter output, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("mcp-tunnel-demo-");
        try
        {
            return await RunInAsync(directory.FullName, once, verbose, output, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary><c>demo --upstream-only ADDR</c>: the sample MCP server alone, until SIGTERM/SIGINT.</summary>
    public static async Task<int> ServeUpstreamAsync(string address, TextWriter output, TextWriter error)
    {
        if (!ListenAddress.TryParse(address, out var listen, out var problem) || listen is null || listen.Port == 0 || listen.Host.Length == 0)
        {
            error.WriteLine($"demo: --upstream-only \"{address}\" is not a host:port with a fixed port, e.g. 127.0.0.1:9000{(problem is null ? "" : $" ({problem})")}");
            return ExitCodes.Usage;
        }

        if (!System.Net.IPAddress.TryParse(listen.Host, out var ip))
        {
            ip = listen.Host == "localhost" ? System.Net.IPAddress.Loopback : null;
        }

        if (ip is null)
        {
            error.WriteLine($"demo: --upstream-only needs an IP address to listen on, e.g. 127.0.0.1:9000, not \"{listen.Host}\"");
            return ExitCodes.Usage;
        }

        using var signal = new ShutdownSignal();
        using var log = LogSetup.Create(LogFormat.Text, LogLevelSetting.Info);
        using var logs = LogSetup.Provider(log);
        try
        {
            await using var upstream = await SampleMcpServer.StartAsync(logs, signal.Token, new System.Net.IPEndPoint(ip, listen.Port)).ConfigureAwait(false);
            output.WriteLine($"demo: sample MCP server (tool hello) listening at {upstream.Address}mcp; stop with Ctrl-C");
            await signal.WaitAsync().ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            error.WriteLine($"demo: cannot listen on {address}: {ex.Message}");
            return ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> RunInAsync(string directory, bool once, bool verbose, TextWriter output, CancellationToken cancellationToken)
    {
        // The numbered steps are the story; the gateway's own lines (one "request started" per MCP message) only
        // with --verbose. Warnings and errors always show.
        var logLevel = verbose ? LogLevelSetting.Info : LogLevelSetting.Warn;
        output.WriteLine("mcp-tunnel demo: the gateway's whole data path on loopback, no account or network needed.");
        output.WriteLine();

        var factory = new CertificateFactory();
        var ca = factory.CreateCertificateAuthority("mcp-tunnel-demo-ca");
        var server = factory.CreateServerCertificate(ca, Domain);
        Write(directory, DataDirectory.CaCertificate, ca.CertificatePem);
        Write(directory, "ca.key", ca.PrivateKeyPem);
        Write(directory, "tls.crt", server.CertificatePem);
        Write(directory, "tls.key", server.PrivateKeyPem);
        output.WriteLine($"1. made a throwaway CA and a server certificate for *.{Domain} (ECDSA P-256) in {directory}");

        using var log = LogSetup.Create(LogFormat.Text, logLevel);
        using var logs = LogSetup.Provider(log);
        await using var upstream = await SampleMcpServer.StartAsync(logs, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"2. started a sample MCP server with one tool, hello, at {upstream.Address}mcp");

        var configPath = Path.Combine(directory, "config.yaml");
        File.WriteAllText(configPath, $"""
            # Written by `mcp-tunnel demo`. The same format as the proxy's config.yaml.
            listen_addr: "127.0.0.1:0"
            log_level: {logLevel.ToString().ToLowerInvariant()}
            shutdown_timeout: 5s
            tunnel_domain: {Domain}
            tls:
              cert_file: tls.crt
              key_file: tls.key
            routes:
              hello: http://127.0.0.1:{upstream.Address.Port}
            upstream:
              allowed_ips:
                - 127.0.0.0/8   # loopback, for this demo only; the default is RFC 1918
            """);
        var config = ConfigFiles.Load(configPath, null, Console.Error);
        if (config is null)
        {
            return ExitCodes.Failure;
        }

        await using var gateway = GatewayServer.Create(config, logs, certificateCheck: ServerCertificateAdvice.For(config));
        await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
        var gatewayUri = new UriBuilder(gateway.ListenUris[0]) { Scheme = "ws" }.Uri;
        output.WriteLine($"3. started the gateway on {gatewayUri} with the config {configPath}");

        var host = $"hello.{Domain}";
        output.WriteLine($"4. probing {host}/mcp the way the tunnel edge does: WebSocket, then TLS inside it, then MCP");
        var report = await Probe.RunAsync(new ProbeOptions
        {
            Edge = new EdgeConnectOptions { Gateway = gatewayUri, TrustedCas = LoadCa(directory) },
            Host = host,
            ToolCall = ("hello", """{"name":"operator"}"""),
        }, cancellationToken).ConfigureAwait(false);
        output.Write(report.ToString());
        output.WriteLine(report.Ok ? "demo OK: a request went WebSocket -> inner TLS -> route -> MCP server and back." : "demo FAILED: see the step marked FAIL above.");
        if (once || !report.Ok)
        {
            return report.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        }

        output.WriteLine();
        output.WriteLine("Try it yourself from another terminal:");
        output.WriteLine($"  {SelfCommand()} probe --gateway {gatewayUri} --host {host} --ca {ShellQuote(Path.Combine(directory, DataDirectory.CaCertificate))} --call hello");
        if (!verbose)
        {
            output.WriteLine("(The gateway logs warnings only; demo --verbose shows a line per request.)");
        }

        output.WriteLine("Press Ctrl-C to stop (the temporary files are removed).");
        using var signal = new ShutdownSignal();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, signal.Token);
        await Task.Delay(Timeout.Infinite, linked.Token).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// How to run this same binary from a shell: its own path (so the printed command works under
    /// <c>dotnet run</c>, where no mcp-tunnel is on PATH), or <c>dotnet mcp-tunnel.dll</c> when started that way.
    /// </summary>
    internal static string SelfCommand(string? processPath = null, string? baseDirectory = null)
    {
        processPath ??= Environment.ProcessPath ?? "mcp-tunnel";
        if (Path.GetFileNameWithoutExtension(processPath) == "dotnet")
        {
            return $"{ShellQuote(processPath)} {ShellQuote(Path.Combine(baseDirectory ?? AppContext.BaseDirectory, "mcp-tunnel.dll"))}";
        }

        return ShellQuote(processPath);
    }

    private static string ShellQuote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or ':' or '=')
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static System.Security.Cryptography.X509Certificates.X509Certificate2Collection LoadCa(string directory)
    {
        var cas = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        cas.ImportFromPemFile(Path.Combine(directory, DataDirectory.CaCertificate));
        return cas;
    }

    private static void Write(string directory, string name, string content)
    {
        var path = Path.Combine(directory, name);
        using var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
