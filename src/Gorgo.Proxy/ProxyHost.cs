using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Tokens;
using Gorgo.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy;

/// <summary>Builds the proxy's web application: the OpenAI front door, <c>/health</c> and <c>/proxy/state</c>.</summary>
public static class ProxyHost
{
    /// <summary>Builds (but does not start) the proxy; throws <see cref="Routing.Options.RoutingOptionsException"/> for a bad configuration.</summary>
    public static WebApplication Build(ProxyOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = OpenAiRequestParser.MaxBodyBytes);
        builder.WebHost.UseUrls(options.ListenUrl);
        logging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(sp => new ProxyState(options, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp =>
        {
            ProxyState state = sp.GetRequiredService<ProxyState>();
            return new FrontDoor(state.FrontDoorOptions, state, new AdmissionGate(options.Admission), PromptEncoder.CreateDefault(), sp.GetRequiredService<ILogger<FrontDoor>>());
        });

        WebApplication app = builder.Build();
        ProxyState proxy = app.Services.GetRequiredService<ProxyState>();
        app.MapGet("/health", () => Results.Json(new { status = "ok", region = options.Region, role = "proxy" }));
        app.MapGet("/proxy/state", () => Results.Json(proxy.Describe()));
        app.MapFrontDoor(app.Services.GetRequiredService<FrontDoor>());
        return app;
    }
}
