using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Tokens;
using Gorgo.Serving;
using Gorgo.Serving.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy;

/// <summary>Builds the proxy's web application: the OpenAI front door, <c>/health</c>, <c>/proxy/state</c>, <c>/metrics</c> and the status page.</summary>
public static class ProxyHost
{
    /// <summary>Builds (but does not start) the proxy; throws <see cref="Routing.Options.RoutingOptionsException"/> for a bad configuration.</summary>
    public static WebApplication Build(ProxyOptions options, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        GorgoTelemetry.StartTracing($"proxy-{options.Region}");
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = OpenAiRequestParser.MaxBodyBytes);
        builder.WebHost.UseUrls(options.ListenUrl);
        logging?.Invoke(builder.Logging);
        builder.Services.AddSingleton(sp => new ProxyState(options, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(new AdmissionGate(options.Admission));
        builder.Services.AddSingleton(sp =>
        {
            ProxyState state = sp.GetRequiredService<ProxyState>();
            return new FrontDoor(state.FrontDoorOptions, state, sp.GetRequiredService<AdmissionGate>(), PromptEncoders.CreateDefault(), sp.GetRequiredService<ILogger<FrontDoor>>());
        });
        builder.Services.AddFrontDoorDrain(options.Admission);

        WebApplication app = builder.Build();
        ProxyState proxy = app.Services.GetRequiredService<ProxyState>();
        AdmissionGate admission = app.Services.GetRequiredService<AdmissionGate>();
        app.MapGet("/health", () => admission.IsDraining
            ? Results.Json(new { status = "draining", region = options.Region, role = "proxy" }, statusCode: 503)
            : Results.Json(new { status = "ok", region = options.Region, role = "proxy" }));
        FrontDoor door = app.Services.GetRequiredService<FrontDoor>();
        app.MapGet("/proxy/state", () => Results.Json(FrontDoorState.Describe(proxy.Describe(), door, admission)));
        app.MapOperations(new ProxyNodeView(proxy, options.Region), door, admission);
        app.MapFrontDoor(door);
        return app;
    }
}
