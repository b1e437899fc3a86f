using System.Net;
using McpTunnel.Configuration;
using McpTunnel.Gateway.Diagnostics;
using McpTunnel.Gateway.Forwarding;
using McpTunnel.Gateway.Routing;
using McpTunnel.Gateway.Tls;
using McpTunnel.Gateway.Transport;
using McpTunnel.Gateway.Upstream;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace McpTunnel.Gateway;

/// <summary>
/// The gateway: one Kestrel server with two endpoints. <c>listen_addr</c> is a plain socket endpoint that
/// accepts WebSockets; the private <see cref="InnerEndPoint"/> receives each WebSocket's byte stream and runs
/// inner TLS and HTTP on it. Requests on the inner endpoint are routed and forwarded.
/// </summary>
public sealed class GatewayServer : IGatewayStatus, IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;
    private readonly InnerRequestHandler _inner;
    private readonly LogLevelFilter _logLevel;
    private GatewayConfig _config;
    private bool _started;

    private GatewayServer(WebApplication app, GatewayConfig config, ServerCertificateStore certificates, GatewayMetrics metrics, InnerRequestHandler inner, LogLevelFilter logLevel, ConnectionLimits limits, ILogger logger)
    {
        _app = app;
        _logLevel = logLevel;
        _config = config;
        Certificates = certificates;
        Metrics = metrics;
        _inner = inner;
        Limits = limits;
        _logger = logger;
    }

    /// <summary>The connection limits in force (<c>appliance.max_connections</c>, <c>max_sessions</c>, or derived).</summary>
    public ConnectionLimits Limits { get; }

    public ServerCertificateStore Certificates { get; }

    public GatewayMetrics Metrics { get; }

    public RouteTable Routes => _inner.Routes;

    public DateTimeOffset CertificateNotAfter => Certificates.Current.NotAfter;

    public int CertificateReloads => Certificates.ReloadCount;

    /// <summary>The routing state requests start with now (tests watch an old one drain).</summary>
    internal RoutingState RoutingStateForTests => _inner.State;

    /// <summary>The configuration in force (after reloads).</summary>
    public GatewayConfig Config => _config;

    /// <summary>The address of the health listener when one was asked for (with its real port).</summary>
    public Uri? HealthUri { get; private set; }

    /// <summary>The addresses the WebSocket listener is bound to (with real ports when <c>:0</c> was asked).</summary>
    public IReadOnlyList<Uri> ListenUris { get; private set; } = [];

    /// <summary>
    /// Builds the gateway. Throws <see cref="CertificateLoadException"/> when the certificate pair or the
    /// upstream CA file cannot be used. <paramref name="health"/>, when given and <c>appliance.health_addr</c> is set,
    /// answers the health listener with this gateway's status. <paramref name="upstreamResolver"/> replaces the system resolver for
    /// upstream names (tests). <paramref name="certificateCheck"/> judges the server certificate at start and on
    /// each reload (see <see cref="ServerCertificateStore.Open"/>).
    /// </summary>
    /// <paramref name="environment"/> is where the <c>OTEL_*</c> variables are read (default: the process's).
    public static GatewayServer Create(GatewayConfig config, ILoggerProvider logs, TimeProvider? time = null, IHealthHandler? health = null,
        UpstreamResolver? upstreamResolver = null, Func<string, IEnumerable<string>>? certificateCheck = null, Func<string, string?>? environment = null)
    {
        var metrics = new GatewayMetrics();
        var timeProvider = time ?? TimeProvider.System;
        var tlsReporter = new TlsHandshakeFailureReporter(metrics, timeProvider);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "mcp-tunnel" });

        // log_level is a filter a reload can change (framework chatter stays out unless debugging); the minimum
        // level is the lowest log_level there is, so nothing is dropped before the filter sees it.
        var logLevel = new LogLevelFilter(config.LogLevel);
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.AddProvider(tlsReporter);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddFilter(logLevel.Allows);
        builder.Logging.AddFilter<TlsHandshakeFailureReporter>(TlsHandshakeFailureReporter.KestrelHttpsCategory, LogLevel.Debug);

        var loggerFactoryForStartup = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.AddProvider(new NonDisposingProvider(logs));
            b.SetMinimumLevel(LogLevel.Debug);
            b.AddFilter(logLevel.Allows);
        });
        var gatewayLogger = loggerFactoryForStartup.CreateLogger("McpTunnel.Gateway");
        tlsReporter.Attach(gatewayLogger);
        var certificates = ServerCertificateStore.Open(config.Tls, gatewayLogger, timeProvider, config.Appliance.CertPollInterval, certificateCheck);
        Diagnostics.GatewayInstruments.AddCertificate(metrics.Meter, certificates);
        // The service's OTEL_* variables win over appliance.telemetry (decision 0016).
        var variables = environment ?? Environment.GetEnvironmentVariable;
        var bindTelemetry = Diagnostics.GatewayTelemetry.Add(builder, metrics, prometheus: health is not null && config.Appliance.HealthAddr is not null,
            name => variables(name) ?? config.Appliance.Telemetry.Variable(name));

        var limits = ConnectionLimits.Resolve(config.Appliance);
        var governor = ConnectionGovernor.ForTunnel(limits, config.Appliance, timeProvider, metrics, gatewayLogger);
        var healthGovernor = ConnectionGovernor.ForHealth(timeProvider, metrics, gatewayLogger);
        var listener = new InnerConnectionListener(limits.MaxSessions);
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(config.Appliance);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(timeProvider);
        builder.Services.AddSingleton(listener);
        builder.Services.AddSingleton<OuterWebSocketHandler>();
        builder.Services.AddSingleton<InnerRequestHandler>();
        if (upstreamResolver is not null)
        {
            builder.Services.AddSingleton(upstreamResolver);
        }

        builder.Services.AddHttpForwarder();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = config.ShutdownTimeout);

        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets();
        // Added after the socket transport so both stay registered; each binds only its own endpoint type.
        builder.Services.AddSingleton<IConnectionListenerFactory>(new InnerTransportFactory(listener));
        builder.WebHost.UseKestrelHttpsConfiguration();
        var healthEndpoint = health is not null && config.Appliance.HealthAddr is { } healthAddress ? ResolveListenEndpoints(healthAddress).First() : null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            ConfigureKestrel(kestrel, config, certificates, tlsReporter, governor, gatewayLogger);
            if (healthEndpoint is not null)
            {
                kestrel.Listen(healthEndpoint, o =>
                {
                    o.Protocols = HttpProtocols.Http1;
                    o.Use(healthGovernor.Middleware);
                });
            }
        });

        var app = builder.Build();
        bindTelemetry(app.Services);
        var outer = app.Services.GetRequiredService<OuterWebSocketHandler>();
        var inner = app.Services.GetRequiredService<InnerRequestHandler>();
        var server = new GatewayServer(app, config, certificates, metrics, inner, logLevel, limits, gatewayLogger);
        if (health is not null && healthEndpoint is not null)
        {
            // The health listener is a plain loopback socket of its own; it never reaches a route.
            app.MapWhen(context => context.Features.Get<ITunnelFeature>() is null && IsHealth(context, healthEndpoint), branch =>
            {
                Diagnostics.GatewayTelemetry.MapMetrics(branch);
                branch.Run(context => health.HandleAsync(context, server));
            });
        }

        app.MapWhen(static context => context.Features.Get<ITunnelFeature>() is null, branch =>
        {
            branch.UseWebSockets();
            branch.Run(outer.HandleAsync);
        });
        app.Run(context => context.Features.Get<ITunnelFeature>() is TunnelConnection { Outer: { } session }
            ? TrackAsync(session, context, inner.HandleAsync)
            : inner.HandleAsync(context));
        return server;
    }

    private static bool IsHealth(HttpContext context, IPEndPoint health) => context.Connection.LocalPort == health.Port;

    /// <summary>Counts an inner request on its session, so the session limit can tell idle sessions from busy ones.</summary>
    private static async Task TrackAsync(OuterConnection session, HttpContext context, RequestDelegate next)
    {
        session.RequestStarted();
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            session.RequestEnded();
        }
    }

    /// <summary>
    /// Applies a new configuration without a restart: routes, allowed IPs, upstream trust, the upstream
    /// timeouts (with a new upstream connection pool) and <c>log_level</c>. Fields that need a new listener, new
    /// Kestrel limits or a new connector are reported (<c>configuration change needs a restart to apply</c>) and
    /// left as they are. In-flight requests are not touched. Throws <see cref="CertificateLoadException"/> when
    /// <c>upstream.tls.ca_file</c> cannot be read; then nothing changes.
    /// </summary>
    public void Reload(GatewayConfig config)
    {
        _inner.Reload(config);
        _logLevel.Set(config.LogLevel);
        var now = _config.Appliance;
        var next = config.Appliance;
        var restart = new List<string>();
        foreach (var (field, changed) in new[]
        {
            ("listen_addr", config.ListenAddr != _config.ListenAddr),
            ("tls", config.Tls != _config.Tls),
            ("shutdown_timeout", config.ShutdownTimeout != _config.ShutdownTimeout),
            ("appliance.health_addr", next.HealthAddr != now.HealthAddr),
            ("appliance.tls_handshake_timeout", next.TlsHandshakeTimeout != now.TlsHandshakeTimeout),
            ("appliance.cert_poll_interval", next.CertPollInterval != now.CertPollInterval),
            ("appliance.websocket_keepalive", next.WebSocketKeepAlive != now.WebSocketKeepAlive),
            ("appliance.request_headers_timeout", next.RequestHeadersTimeout != now.RequestHeadersTimeout),
            ("appliance.max_request_headers_bytes", next.MaxRequestHeadersBytes != now.MaxRequestHeadersBytes),
            ("appliance.websocket_paths", !next.WebSocketPaths.SequenceEqual(now.WebSocketPaths)),
            ("appliance.data_dir", next.DataDir != now.DataDir),
            ("appliance.cloudflared", next.Cloudflared != now.Cloudflared),
            ("appliance.max_connections", next.MaxConnections != now.MaxConnections),
            ("appliance.max_sessions", next.MaxSessions != now.MaxSessions),
            ("appliance.upgrade_timeout", next.UpgradeTimeout != now.UpgradeTimeout),
            ("appliance.first_request_timeout", next.FirstRequestTimeout != now.FirstRequestTimeout),
            ("appliance.telemetry", next.Telemetry != now.Telemetry),
        })
        {
            if (changed)
            {
                restart.Add(field);
            }
        }

        // Whatever else appliance: holds is fixed at start too; name the section when no field above did.
        var applied = now with { UpstreamConnectTimeout = next.UpstreamConnectTimeout, UpstreamIdleTimeout = next.UpstreamIdleTimeout };
        if (restart.Count == 0 && next with { WebSocketPaths = now.WebSocketPaths } != applied)
        {
            restart.Add("appliance");
        }

        foreach (var field in restart)
        {
            GatewayLog.NeedsRestart(_logger, field);
        }

        _config = config with { ListenAddr = _config.ListenAddr, Tls = _config.Tls, ShutdownTimeout = _config.ShutdownTimeout, Appliance = applied };
        GatewayLog.Reloaded(_logger, config.Routes.Count);
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, GatewayConfig config, ServerCertificateStore certificates, TlsHandshakeFailureReporter tlsReporter, ConnectionGovernor governor, ILogger logger)
    {
        kestrel.AddServerHeader = false;
        var limits = kestrel.Limits;
        // Bodies stream without limit or minimum rate: a tool call may send or receive slowly for minutes.
        limits.MaxRequestBodySize = null;
        limits.MinRequestBodyDataRate = null;
        limits.MinResponseDataRate = null;
        limits.MaxRequestHeadersTotalSize = config.Appliance.MaxRequestHeadersBytes;
        // Slowloris on either layer: a header block must arrive within this time.
        limits.RequestHeadersTimeout = config.Appliance.RequestHeadersTimeout;
        // Between requests on an inner connection. Before the first request this would apply too, so the outer and the
        // inner first request have their own, shorter deadlines (ConnectionGovernor: upgrade_timeout, first_request_timeout).
        limits.KeepAliveTimeout = TimeSpan.FromMinutes(5);
        limits.Http2.MaxStreamsPerConnection = 256;

        if (config.ListenAddr.Host.Length == 0)
        {
            // ":8080" is every interface, IPv6 and IPv4, falling back to IPv4 where IPv6 is off (as Go does).
            kestrel.ListenAnyIP(config.ListenAddr.Port, Outer);
        }
        else
        {
            foreach (var endpoint in ResolveListenEndpoints(config.ListenAddr))
            {
                kestrel.Listen(endpoint, Outer);
            }
        }

        // One governor for every socket of listen_addr, so the limits count all of them together.
        void Outer(ListenOptions o)
        {
            o.Protocols = HttpProtocols.Http1;
            o.Use(governor.Middleware);
        }

        kestrel.Listen(InnerEndPoint.Instance, o =>
        {
            o.Protocols = HttpProtocols.Http1AndHttp2;
            o.Use(tlsReporter.Guard);
            o.UseHttps(new TlsHandshakeCallbackOptions
            {
                HandshakeTimeout = config.Appliance.TlsHandshakeTimeout,
                OnConnection = context =>
                {
                    if (logger.IsEnabled(LogLevel.Debug))
                    {
                        GatewayLog.ClientHello(logger, context.ClientHelloInfo.ServerName ?? "(none)");
                    }

                    // The certificate is chosen regardless of SNI (one pair per gateway); read per handshake
                    // so a reload applies to the next connection without touching open ones.
                    return certificates.Current.GetOptionsAsync();
                },
            });
            o.Use(TlsHandshakeFailureReporter.MarkEstablished);
            o.Use(OpenSslBufferRelease.Middleware(logger));
        });
    }

    private static IEnumerable<IPEndPoint> ResolveListenEndpoints(ListenAddress address)
    {
        if (address.IsAnyInterface)
        {
            return [new IPEndPoint(address.Host == "0.0.0.0" ? IPAddress.Any : IPAddress.IPv6Any, address.Port)];
        }

        if (address.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return [new IPEndPoint(IPAddress.Loopback, address.Port)];
        }

        if (IPAddress.TryParse(address.Host, out var ip))
        {
            return [new IPEndPoint(ip, address.Port)];
        }

        return Dns.GetHostAddresses(address.Host).Select(a => new IPEndPoint(a, address.Port)).Take(1);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _started = true;
        Certificates.StartPolling();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var bound = addresses.Where(a => a.StartsWith("http://", StringComparison.Ordinal) && !a.Contains(InnerEndPoint.Instance.ToString(), StringComparison.Ordinal))
            .Select(a => new Uri(a)).ToList();
        var healthPort = _config.Appliance.HealthAddr?.Port;
        var healthBound = healthPort is > 0 ? bound.FirstOrDefault(u => u.Port == healthPort) : null;
        HealthUri = healthBound is null ? null : Dialable(healthBound);
        var listening = bound.Where(u => u != healthBound).ToList();
        // Tests and probes dial these; the log names the sockets as bound ("[::]:8080" for ":8080", not a loopback address).
        ListenUris = [.. listening.Select(Dialable)];
        foreach (var uri in listening)
        {
            GatewayLog.Listening(_logger, uri.Authority);
        }

        GatewayLog.Limits(_logger, Limits.MaxConnections, Limits.MaxSessions, Limits.DescriptorLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown");
        if (Limits.ExceedsDescriptors)
        {
            GatewayLog.LimitsExceedDescriptors(_logger, Limits.MaxConnections, Limits.MaxSessions, Limits.DescriptorLimit!.Value);
        }

        if (!_config.ListenAddr.IsLoopbackOnly)
        {
            GatewayLog.ListeningOnNetwork(_logger, _config.ListenAddr.ToString());
        }
    }

    /// <summary>The address to dial for a bound socket: a wildcard address is reached on loopback.</summary>
    private static Uri Dialable(Uri bound) =>
        new(bound.ToString().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));

    /// <summary>Stops accepting, lets in-flight requests finish for up to <c>shutdown_timeout</c>, then closes.</summary>
    public async Task StopAsync()
    {
        if (!_started)
        {
            return;
        }

        _started = false;
        GatewayLog.Draining(_logger, GoDuration.Format(_config.ShutdownTimeout));
        using var timeout = new CancellationTokenSource(_config.ShutdownTimeout);
        await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        GatewayLog.Stopped(_logger);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Certificates.Dispose();
        await _app.DisposeAsync().ConfigureAwait(false);
        Metrics.Meter.Dispose();
    }

    /// <summary>Lets the gateway log through the caller's provider without disposing it.</summary>
    private sealed class NonDisposingProvider(ILoggerProvider inner) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => inner.CreateLogger(categoryName);

        public void Dispose() { }
    }
}
