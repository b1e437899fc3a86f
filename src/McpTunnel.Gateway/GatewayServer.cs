using System.Net;
using System.Net.Security;
using McpTunnel.Configuration;
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
public sealed class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ILogger _logger;
    private readonly InnerRequestHandler _inner;
    private GatewayConfig _config;
    private bool _started;

    private GatewayServer(WebApplication app, GatewayConfig config, ServerCertificateStore certificates, GatewayMetrics metrics, InnerRequestHandler inner, ILogger logger)
    {
        _app = app;
        _config = config;
        Certificates = certificates;
        Metrics = metrics;
        _inner = inner;
        _logger = logger;
    }

    public ServerCertificateStore Certificates { get; }

    public GatewayMetrics Metrics { get; }

    public RouteTable Routes => _inner.Routes;

    /// <summary>The configuration in force (after reloads).</summary>
    public GatewayConfig Config => _config;

    /// <summary>The address of the health listener when one was asked for (with its real port).</summary>
    public Uri? HealthUri { get; private set; }

    /// <summary>The addresses the WebSocket listener is bound to (with real ports when <c>:0</c> was asked).</summary>
    public IReadOnlyList<Uri> ListenUris { get; private set; } = [];

    /// <summary>
    /// Builds the gateway. Throws <see cref="CertificateLoadException"/> when the certificate pair or the
    /// upstream CA file cannot be used.
    /// </summary>
    public static GatewayServer Create(GatewayConfig config, ILoggerProvider logs, TimeProvider? time = null, RequestDelegate? health = null)
    {
        var metrics = new GatewayMetrics();
        var tlsReporter = new TlsHandshakeFailureReporter(metrics);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "mcp-tunnel" });

        var level = config.LogLevel switch
        {
            "debug" => LogLevel.Debug,
            "warn" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => LogLevel.Information,
        };
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.AddProvider(tlsReporter);
        builder.Logging.SetMinimumLevel(level);
        // Framework chatter stays out of the log unless debugging; our own categories follow log_level.
        builder.Logging.AddFilter("Microsoft", level <= LogLevel.Debug ? LogLevel.Debug : LogLevel.Warning);
        builder.Logging.AddFilter("Yarp", level <= LogLevel.Debug ? LogLevel.Debug : LogLevel.Warning);
        // Every forwarding failure gets our own line (InnerRequestHandler: "upstream request failed", or the IP
        // policy's "IP validation failed"); the forwarder's WARN for the same event would be a second line.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder", level <= LogLevel.Debug ? LogLevel.Debug : LogLevel.Error);
        builder.Logging.AddFilter<TlsHandshakeFailureReporter>(TlsHandshakeFailureReporter.KestrelHttpsCategory, LogLevel.Debug);

        var timeProvider = time ?? TimeProvider.System;
        var loggerFactoryForStartup = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.AddProvider(new NonDisposingProvider(logs));
            b.SetMinimumLevel(level);
        });
        var gatewayLogger = loggerFactoryForStartup.CreateLogger("McpTunnel.Gateway");
        tlsReporter.Attach(gatewayLogger);
        var certificates = ServerCertificateStore.Open(config.Tls, gatewayLogger, timeProvider, config.Appliance.CertPollInterval);

        var listener = new InnerConnectionListener();
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(config.Appliance);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(listener);
        builder.Services.AddSingleton<OuterWebSocketHandler>();
        builder.Services.AddSingleton<InnerRequestHandler>();
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
            ConfigureKestrel(kestrel, config, certificates, tlsReporter, gatewayLogger);
            if (healthEndpoint is not null)
            {
                kestrel.Listen(healthEndpoint, o => o.Protocols = HttpProtocols.Http1);
            }
        });

        var app = builder.Build();
        var outer = app.Services.GetRequiredService<OuterWebSocketHandler>();
        var inner = app.Services.GetRequiredService<InnerRequestHandler>();
        if (healthEndpoint is not null)
        {
            // The health listener is a plain loopback socket of its own; it never reaches a route.
            app.MapWhen(context => context.Features.Get<ITunnelFeature>() is null && IsHealth(context, healthEndpoint), branch => branch.Run(health!));
        }

        app.MapWhen(static context => context.Features.Get<ITunnelFeature>() is null, branch =>
        {
            branch.UseWebSockets();
            branch.Run(outer.HandleAsync);
        });
        app.Run(inner.HandleAsync);
        return new GatewayServer(app, config, certificates, metrics, inner, gatewayLogger);
    }

    private static bool IsHealth(HttpContext context, IPEndPoint health) => context.Connection.LocalPort == health.Port;

    /// <summary>
    /// Applies a new configuration without a restart: routes, allowed IPs, upstream trust. Fields that need a
    /// new listener or a new certificate path are reported and left as they are. In-flight requests are not
    /// touched. Throws <see cref="CertificateLoadException"/> when <c>upstream.tls.ca_file</c> cannot be read;
    /// then nothing changes.
    /// </summary>
    public void Reload(GatewayConfig config)
    {
        _inner.Reload(config);
        foreach (var (field, changed) in new[]
        {
            ("listen_addr", config.ListenAddr != _config.ListenAddr),
            ("tls", config.Tls != _config.Tls),
            ("shutdown_timeout", config.ShutdownTimeout != _config.ShutdownTimeout),
            ("appliance.health_addr", config.Appliance.HealthAddr != _config.Appliance.HealthAddr),
        })
        {
            if (changed)
            {
                GatewayLog.NeedsRestart(_logger, field);
            }
        }

        _config = config with { ListenAddr = _config.ListenAddr, Tls = _config.Tls, ShutdownTimeout = _config.ShutdownTimeout };
        GatewayLog.Reloaded(_logger, config.Routes.Count);
    }

    private static void ConfigureKestrel(KestrelServerOptions kestrel, GatewayConfig config, ServerCertificateStore certificates, TlsHandshakeFailureReporter tlsReporter, ILogger logger)
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
        limits.KeepAliveTimeout = TimeSpan.FromMinutes(5);
        limits.Http2.MaxStreamsPerConnection = 256;

        if (config.ListenAddr.Host.Length == 0)
        {
            // ":8080" is every interface, IPv6 and IPv4, falling back to IPv4 where IPv6 is off (as Go does).
            kestrel.ListenAnyIP(config.ListenAddr.Port, o => o.Protocols = HttpProtocols.Http1);
        }
        else
        {
            foreach (var endpoint in ResolveListenEndpoints(config.ListenAddr))
            {
                kestrel.Listen(endpoint, o => o.Protocols = HttpProtocols.Http1);
            }
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
        var uris = addresses.Where(a => a.StartsWith("http://", StringComparison.Ordinal) && !a.Contains(InnerEndPoint.Instance.ToString(), StringComparison.Ordinal))
            .Select(a => new Uri(a.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal))).ToList();
        var healthPort = _config.Appliance.HealthAddr?.Port;
        HealthUri = healthPort is > 0 ? uris.FirstOrDefault(u => u.Port == healthPort) : null;
        ListenUris = [.. uris.Where(u => u != HealthUri)];
        foreach (var uri in ListenUris)
        {
            GatewayLog.Listening(_logger, uri.Authority);
        }

        if (!_config.ListenAddr.IsLoopbackOnly)
        {
            GatewayLog.ListeningOnNetwork(_logger, _config.ListenAddr.ToString());
        }
    }

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
    }

    /// <summary>Lets the gateway log through the caller's provider without disposing it.</summary>
    private sealed class NonDisposingProvider(ILoggerProvider inner) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => inner.CreateLogger(categoryName);

        public void Dispose() { }
    }
}
