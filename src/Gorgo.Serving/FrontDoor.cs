using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gorgo.Serving;

/// <summary>What differs between the deployments a <see cref="FrontDoor"/> serves: the router, how a chosen replica is reached, and hooks.</summary>
public interface IFrontDoorBackend
{
    /// <summary>The router deciding for this front door.</summary>
    Router Router { get; }

    /// <summary>
    /// Decides where the request goes: at once on the router (the mesh; under <c>sync</c> after querying every region),
    /// or when the deployment's admission lets it go (the proxy's late binding routes the head of its queue when a
    /// replica can take it). Failures are <see cref="RoutingException"/>s.
    /// </summary>
    ValueTask<RoutingDecision> RouteAsync(RoutingRequest routing, BackendRequest request, CancellationToken cancellationToken);

    /// <summary>Runs a request on the chosen replica; failures are <see cref="BackendException"/>s.</summary>
    IAsyncEnumerable<BackendChunk> RunAsync(CandidateScore target, BackendRequest request, CancellationToken cancellationToken);
}

/// <summary>Settings of a <see cref="FrontDoor"/>.</summary>
public sealed record FrontDoorOptions
{
    /// <summary>The region the front door decides in.</summary>
    public required string Region { get; init; }

    /// <summary>Label reported in <c>x-gorgo-consistency</c> (the mesh's setting, or <c>proxy</c>).</summary>
    public required string Consistency { get; init; }

    /// <summary>Which replicas requests may go to.</summary>
    public RoutingScope Scope { get; init; } = RoutingScope.Global;

    /// <summary>The configured RTTs (the client leg's truth under WAN emulation).</summary>
    public required RttMatrix ConfiguredRtt { get; init; }

    /// <summary>Whether the client leg named by <c>x-gorgo-client-region</c> is emulated.</summary>
    public bool WanEmulation { get; init; }

    /// <summary>Output length of chat requests without <c>max_tokens</c>.</summary>
    public int DefaultMaxTokens { get; init; } = 256;
}

/// <summary>
/// The routed OpenAI front door: admission, validation, tokenization, the routing decision, dispatch to the chosen
/// replica (retrying the runner-up once when it fails before its first token), and the streamed or whole answer with
/// the <c>x-gorgo-*</c> headers. The mesh ingress and the centralized proxy are both this, with different backends.
/// </summary>
public sealed class FrontDoor(FrontDoorOptions options, IFrontDoorBackend backend, AdmissionGate admission, PromptEncoder encoder, ILogger<FrontDoor> logger)
{
    private long _requestIds;

    /// <summary>The settings in force.</summary>
    public FrontDoorOptions Options { get; } = options;

    /// <summary>Serves <c>POST /v1/completions</c> or <c>/v1/chat/completions</c>.</summary>
    public async Task ServeAsync(HttpContext context, OpenAiEndpoint endpoint)
    {
        CancellationToken aborted = context.RequestAborted;
        (string? clientRegion, double clientLegHalfMs) = await ClientLegAsync(context, aborted).ConfigureAwait(false);
        using IDisposable? slot = await admission.EnterAsync(aborted).ConfigureAwait(false);
        if (slot is null)
        {
            context.Response.Headers.RetryAfter = admission.Options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            throw new OpenAiError(429, $"The router in region '{Options.Region}' is saturated; retry later.", OpenAiError.RateLimit, code: "router_saturated");
        }

        byte[] body = await ReadBodyAsync(context.Request, aborted).ConfigureAwait(false);
        OpenAiRequest request = OpenAiRequestParser.Parse(body, endpoint);
        PreparedPrompt prompt = PreparedPrompt.From(request, encoder, ContextOf(request.Model), Options.DefaultMaxTokens);
        var backendRequest = new BackendRequest(request, prompt);
        RoutingDecision decision = await RouteAsync(request, prompt, clientRegion, backendRequest, aborted).ConfigureAwait(false);

        (IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CandidateScore served) = await OpenAsync(decision, backendRequest, aborted).ConfigureAwait(false);
        await using (chunks.ConfigureAwait(false))
        {
            RoutingHeaders.Apply(context.Response.Headers, decision, Options.Consistency);
            context.Response.Headers[RoutingHeaders.Region] = served.Region;
            context.Response.Headers[RoutingHeaders.Replica] = served.ReplicaId;
            if (clientRegion is not null)
            {
                context.Response.Headers[RoutingHeaders.HomeIdleOverride] = decision.IsHomeIdleOverrideFor(clientRegion) ? "true" : "false";
            }
            if (clientLegHalfMs > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(clientLegHalfMs), aborted).ConfigureAwait(false);
            }

            var responses = new OpenAiResponses(endpoint, request.Model);
            if (request.Stream)
            {
                await StreamAsync(context.Response, responses, request, chunks, first, aborted).ConfigureAwait(false);
            }
            else
            {
                await RespondWholeAsync(context.Response, responses, chunks, first, aborted).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The models any replica serves, as <c>GET /v1/models</c> lists them.</summary>
    public IReadOnlyList<string> Models() => backend.Router.Replicas.Select(r => r.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > OpenAiRequestParser.MaxBodyBytes)
        {
            throw new OpenAiError(413, $"The request body exceeds {OpenAiRequestParser.MaxBodyBytes} bytes.");
        }

        using var buffer = new MemoryStream(request.ContentLength is { } length ? (int)length : 4096);
        await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private static async Task<BackendChunk?> NextAsync(IAsyncEnumerator<BackendChunk> chunks) =>
        await chunks.MoveNextAsync().ConfigureAwait(false) ? chunks.Current : null;

    private static async Task StreamAsync(HttpResponse response, OpenAiResponses responses, OpenAiRequest request, IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CancellationToken aborted)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        PipeWriter output = response.BodyWriter;
        await responses.WriteStartAsync(output, aborted).ConfigureAwait(false);
        BackendChunk? chunk = first;
        while (chunk is { } c)
        {
            if (c.FinishReason is { } finish)
            {
                await responses.WriteEndAsync(output, finish, request.IncludeUsage ? c.Usage : null, aborted).ConfigureAwait(false);
                return;
            }

            await responses.WriteTokenAsync(output, c.Text ?? string.Empty, aborted).ConfigureAwait(false);
            try
            {
                chunk = await NextAsync(chunks).ConfigureAwait(false);
            }
            catch (BackendException ex)
            {
                // Mid-stream failure: the status is already sent, so end the stream as OpenAI does, with an error event.
                await output.WriteAsync(Encoding.UTF8.GetBytes($"data: {ex.ToOpenAiError().ToJson()}\n\n"), aborted).ConfigureAwait(false);
                return;
            }
        }
    }

    private static async Task RespondWholeAsync(HttpResponse response, OpenAiResponses responses, IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CancellationToken aborted)
    {
        var text = new StringBuilder();
        BackendChunk? chunk = first;
        while (chunk is { } c)
        {
            if (c.FinishReason is { } finish)
            {
                response.ContentType = "application/json";
                await response.Body.WriteAsync(responses.Complete(text.ToString(), finish, c.Usage ?? default), aborted).ConfigureAwait(false);
                return;
            }

            text.Append(c.Text);
            try
            {
                chunk = await NextAsync(chunks).ConfigureAwait(false);
            }
            catch (BackendException ex)
            {
                throw ex.ToOpenAiError();
            }
        }

        throw new OpenAiError(502, "The replica's stream ended without a finish.", OpenAiError.Server, code: "backend_error");
    }

    private async Task<(string? Region, double HalfMs)> ClientLegAsync(HttpContext context, CancellationToken aborted)
    {
        string? clientRegion = context.Request.Headers[RoutingHeaders.ClientRegion].FirstOrDefault();
        if (clientRegion is null)
        {
            return (null, 0);
        }

        if (!Options.ConfiguredRtt.Contains(clientRegion))
        {
            throw OpenAiError.BadRequest($"Unknown client region '{clientRegion}' in {RoutingHeaders.ClientRegion}. Known regions: {string.Join(", ", Options.ConfiguredRtt.Regions)}.", RoutingHeaders.ClientRegion);
        }

        if (!Options.WanEmulation || clientRegion == Options.Region)
        {
            return (clientRegion, 0);
        }

        double half = Options.ConfiguredRtt.Get(clientRegion, Options.Region) / 2;
        await Task.Delay(TimeSpan.FromMilliseconds(half), aborted).ConfigureAwait(false);
        return (clientRegion, half);
    }

    private int ContextOf(string model)
    {
        int context = 0;
        foreach (ReplicaView r in backend.Router.Replicas)
        {
            if (r.Model == model)
            {
                context = Math.Max(context, r.MaxContextTokens);
            }
        }

        return context > 0 ? context : throw OpenAiError.ModelNotFound(model);
    }

    private async Task<RoutingDecision> RouteAsync(OpenAiRequest request, PreparedPrompt prompt, string? clientRegion, BackendRequest backendRequest, CancellationToken aborted)
    {
        try
        {
            var routing = new RoutingRequest(prompt.Blocks, request.Model, clientRegion, prompt.MaxTokens, Interlocked.Increment(ref _requestIds), Options.Scope);
            return await backend.RouteAsync(routing, backendRequest, aborted).ConfigureAwait(false);
        }
        catch (RoutingException ex)
        {
            throw ex.Failure switch
            {
                RoutingFailure.ModelNotFound => OpenAiError.ModelNotFound(request.Model),
                RoutingFailure.PromptTooLong => new OpenAiError(413, ex.Message, OpenAiError.InvalidRequest, "messages", "context_length_exceeded"),
                RoutingFailure.Saturated => new OpenAiError(429, ex.Message, OpenAiError.RateLimit, code: "replicas_saturated"),
                _ => new OpenAiError(503, ex.Message, OpenAiError.Server, code: "no_healthy_replica"),
            };
        }
    }

    /// <summary>Starts the request on the chosen replica; if it fails before its first token, tries the runner-up once.</summary>
    private async Task<(IAsyncEnumerator<BackendChunk> Chunks, BackendChunk First, CandidateScore Served)> OpenAsync(RoutingDecision decision, BackendRequest request, CancellationToken aborted)
    {
        CandidateScore target = decision.Chosen;
        for (int attempt = 0; ; attempt++)
        {
            IAsyncEnumerator<BackendChunk> chunks = backend.RunAsync(target, request, aborted).GetAsyncEnumerator(aborted);
            BackendException failure;
            try
            {
                if (await chunks.MoveNextAsync().ConfigureAwait(false))
                {
                    return (chunks, chunks.Current, target);
                }

                failure = new BackendException(BackendFailure.Failed, "The replica ended the stream before its first token.");
            }
            catch (BackendException ex)
            {
                failure = ex;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !aborted.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Replica {Replica} in {Region} failed before its first token", target.ReplicaId, target.Region);
                failure = new BackendException(BackendFailure.Unavailable, $"Replica '{target.ReplicaId}' in region '{target.Region}' is unreachable.", inner: ex);
            }

            await chunks.DisposeAsync().ConfigureAwait(false);
            if (!failure.Retryable || attempt > 0 || decision.RunnerUp is not { } runnerUp)
            {
                throw failure.ToOpenAiError();
            }

            logger.LogInformation("Retrying request {Request} on runner-up {Replica} after: {Error}", decision.RequestId, runnerUp.ReplicaId, failure.Message);
            target = runnerUp;
        }
    }
}
