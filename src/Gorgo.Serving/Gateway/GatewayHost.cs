using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gorgo.Replica.OpenAi;
using Gorgo.Replica.Server;
using Gorgo.Serving.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Serving.Gateway;

/// <summary>Builds <c>gorgo gateway</c>'s web application: every <c>/v1/*</c> request forwarded to the mesh, <c>/health</c>, <c>/gateway/state</c> and <c>/metrics</c>.</summary>
public static class GatewayHost
{
    /// <summary>Builds (but does not start) a gateway; throws <see cref="Routing.Options.RoutingOptionsException"/> for bad options and <see cref="ArgumentException"/> for a certificate that cannot be loaded.</summary>
    public static WebApplication Build(GatewayOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        X509Certificate2? certificate = options.UsesTls ? LoadCertificate(options) : null;
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        if (certificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves HTTPS out unless asked
        }

        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            if (certificate is not null)
            {
                k.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate);
            }
        });
        builder.WebHost.UseUrls(options.ListenUrl);
        logging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(sp => new GatewayForwarder(options, CreateClient(options), sp.GetRequiredService<ILogger<GatewayForwarder>>()));

        WebApplication app = builder.Build();
        GatewayForwarder forwarder = app.Services.GetRequiredService<GatewayForwarder>();
        app.UseMiddleware<OpenAiErrorMiddleware>();
        app.MapGet("/health", () => Results.Json(new { status = "ok", region = options.Region, role = "gateway" }));
        app.MapGet("/gateway/state", () => Results.Json(new
        {
            region = options.Region,
            upstreams = options.Upstreams.Select(u => u.ToString()),
            requests = forwarder.Stats.Requests,
            failedOver = forwarder.Stats.FailedOver,
            unavailable = forwarder.Stats.Unavailable,
            endedWithErrorEvent = forwarder.Stats.EndedWithErrorEvent,
        }));
        app.MapMetrics();
        app.Map("/v1/{**path}", forwarder.ForwardAsync);
        app.MapFallback((HttpContext context) => OpenAiErrorMiddleware.WriteAsync(context, new OpenAiError(404, $"No route for {context.Request.Method} {context.Request.Path}.", OpenAiError.NotFound)));
        return app;
    }

    /// <summary>The PEM certificate and key of the options, or an <see cref="ArgumentException"/> that names the file and says why.</summary>
    private static X509Certificate2 LoadCertificate(GatewayOptions options)
    {
        try
        {
            X509Certificate2 certificate = X509Certificate2.CreateFromPemFile(options.TlsCertificatePath!, options.TlsKeyPath);
            return certificate.HasPrivateKey
                ? certificate
                : throw new ArgumentException($"TlsCertificatePath '{options.TlsCertificatePath}' has no private key: give it in the file or with TlsKeyPath (--tls-key).");
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"Cannot load the TLS certificate '{options.TlsCertificatePath}'{(options.TlsKeyPath is null ? string.Empty : $" with key '{options.TlsKeyPath}'")}: {ex.Message}", ex);
        }
    }

    /// <summary>The client to the nodes: pooled connections, the connect timeout of the options, no redirects, no proxy, no overall timeout (the forwarder keeps the deadline).</summary>
    private static HttpClient CreateClient(GatewayOptions options) => new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromMilliseconds(options.ConnectTimeoutMs),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        MaxConnectionsPerServer = int.MaxValue,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
