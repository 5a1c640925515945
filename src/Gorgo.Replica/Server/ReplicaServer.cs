using Gorgo.Routing.Tokens;
using Gorgo.Replica.KvEvents;
using Gorgo.Replica.OpenAi;
using Gorgo.Engine.Profiles;
using Gorgo.Routing.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Replica.Server;

/// <summary>Builds the emulated replica's web application: the OpenAI endpoints, <c>/health</c> and <c>/metrics</c>.</summary>
public static class ReplicaServer
{
    /// <summary>Builds (but does not start) the server for <paramref name="options"/>.</summary>
    /// <param name="options">Address, model, profile name and engine settings.</param>
    /// <param name="logging">Logging configuration (default: ASP.NET Core's).</param>
    /// <param name="profile">A profile to use instead of loading <see cref="ReplicaServerOptions.Profile"/>.</param>
    public static WebApplication Build(ReplicaServerOptions options, Action<ILoggingBuilder>? logging = null, EngineProfile? profile = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        new OptionsErrors().Include(options.Validate()).ThrowIfAny("replica options");
        profile = profile?.EnsureValid() ?? EngineProfile.Load(options.Profile);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = OpenAiRequestParser.MaxBodyBytes);
        builder.WebHost.UseUrls($"http://{options.Host}:{options.Port}");
        if (logging is not null)
        {
            logging(builder.Logging);
        }

        IPromptTokenizer? tokenizer = options.Tokenizer is { } file ? HuggingFaceTokenizer.Load(file) : null; // before any socket is bound
        builder.Services.AddSingleton(_ => new EmulatedReplica(
            options.Model,
            profile,
            options.DefaultMaxTokens,
            options.StepJitter,
            options.Seed,
            options.KvEventsEndpoint is { } kv ? new KvEventPublisher(kv, options.KvEventsReplayEndpoint, options.KvEventsTopic) : null,
            tokenizer));
        WebApplication app = builder.Build();
        app.MapReplicaEndpoints(app.Services.GetRequiredService<EmulatedReplica>());
        return app;
    }

    /// <summary>Maps the replica's endpoints onto <paramref name="app"/>.</summary>
    public static WebApplication MapReplicaEndpoints(this WebApplication app, EmulatedReplica replica)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(replica);
        app.UseMiddleware<OpenAiErrorMiddleware>();
        app.MapPost("/v1/completions", (HttpContext context) => replica.ServeAsync(context, OpenAiEndpoint.Completions));
        app.MapPost("/v1/chat/completions", (HttpContext context) => replica.ServeAsync(context, OpenAiEndpoint.ChatCompletions));
        app.MapGet("/v1/models", () => Results.Bytes(replica.ModelsJson(), "application/json"));
        app.MapGet("/health", () => Results.Ok());
        app.MapGet("/metrics", () => Results.Text(replica.Engine.Metrics.RenderPrometheus(replica.Model, replica.Engine.State), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapFallback((HttpContext context) => OpenAiErrorMiddleware.WriteAsync(context, new OpenAiError(404, $"No route for {context.Request.Method} {context.Request.Path}.", OpenAiError.NotFound)));
        return app;
    }
}
