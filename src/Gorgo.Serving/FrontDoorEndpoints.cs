using Gorgo.Replica.OpenAi;
using Gorgo.Replica.Server;
using Gorgo.Routing.Fleet;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gorgo.Serving;

/// <summary>Maps a front door's OpenAI endpoints, its error handling and the OpenAI-shaped 404 for unknown routes.</summary>
public static class FrontDoorEndpoints
{
    /// <summary>Maps <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c>, <c>GET /v1/models</c> and the fallback.</summary>
    public static WebApplication MapFrontDoor(this WebApplication app, FrontDoor door)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(door);
        app.UseMiddleware<OpenAiErrorMiddleware>();
        app.MapPost("/v1/completions", (HttpContext context) => door.ServeAsync(context, OpenAiEndpoint.Completions));
        app.MapPost("/v1/chat/completions", (HttpContext context) => door.ServeAsync(context, OpenAiEndpoint.ChatCompletions));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = door.Models().Select(m => new { id = m, @object = "model", created = 0, owned_by = "gorgo" }),
        }));
        app.MapFallback((HttpContext context) => OpenAiErrorMiddleware.WriteAsync(context, new OpenAiError(404, $"No route for {context.Request.Method} {context.Request.Path}.", OpenAiError.NotFound)));
        return app;
    }
}

/// <summary>The front door's part of a deployment's state endpoint (<c>/mesh/state</c>, <c>/proxy/state</c>).</summary>
public static class FrontDoorState
{
    /// <summary><paramref name="deployment"/>'s state as JSON, with whether the front door drains and each replica's circuit breaker.</summary>
    public static System.Text.Json.Nodes.JsonObject Describe(object deployment, FrontDoor door, AdmissionGate admission)
    {
        ArgumentNullException.ThrowIfNull(door);
        ArgumentNullException.ThrowIfNull(admission);
        var json = System.Text.Json.JsonSerializer.SerializeToNode(deployment, System.Text.Json.JsonSerializerOptions.Web)!.AsObject();
        json["draining"] = admission.IsDraining;
        json["breakers"] = System.Text.Json.JsonSerializer.SerializeToNode(door.Breakers.Describe(), System.Text.Json.JsonSerializerOptions.Web);
        json["cacheViews"] = System.Text.Json.JsonSerializer.SerializeToNode(
            door.Router.CacheViews().OrderBy(v => v.Key, StringComparer.Ordinal).ToDictionary(v => v.Key, v => v.Value.Name(), StringComparer.Ordinal),
            System.Text.Json.JsonSerializerOptions.Web);
        Gorgo.Routing.Cost.CalibrationOptions calibration = door.Router.Options.Cost.Calibration;
        json["calibration"] = System.Text.Json.JsonSerializer.SerializeToNode(
            new
            {
                enabled = calibration.Enabled,
                pooled = door.Router.PooledCalibration is var pooled
                    ? new { queueGain = Math.Round(pooled.QueueGain, 3), prefillGain = Math.Round(pooled.PrefillGain, 3), overheadMs = Math.Round(pooled.OverheadMs, 1), observations = pooled.Observations, ready = pooled.IsReady(calibration) }
                    : null,
                replicas = door.Router.Calibrations().OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(
                    c => c.Key,
                    c => new { queueGain = Math.Round(c.Value.QueueGain, 3), prefillGain = Math.Round(c.Value.PrefillGain, 3), overheadMs = Math.Round(c.Value.OverheadMs, 1), observations = c.Value.Observations, inUse = calibration.Enabled && c.Value.IsReady(calibration) },
                    StringComparer.Ordinal),
            },
            System.Text.Json.JsonSerializerOptions.Web);
        json["transitAllowance"] = System.Text.Json.JsonSerializer.SerializeToNode(
            new
            {
                enabled = door.Router.Options.Cost.TransitAllowance.Enabled,
                regions = door.Router.TransitAllowances().OrderBy(t => t.Key, StringComparer.Ordinal).ToDictionary(
                    t => t.Key,
                    t => new { allowanceMs = Math.Round(t.Value.AllowanceMs, 1), observations = t.Value.Observations },
                    StringComparer.Ordinal),
            },
            System.Text.Json.JsonSerializerOptions.Web);
        return json;
    }
}
