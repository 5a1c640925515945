using System.IO.Pipelines;
using System.Text;
using Gorgo.Engine.OpenAi;
using Gorgo.Mesh.Gossip;
using Gorgo.Mesh.Grains;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.Ingress;

/// <summary>
/// The OpenAI ingress of a node: validates the request, routes it on this node's view of the mesh, runs it on the
/// chosen replica grain (in this region or one hop away) and streams the answer back with the <c>x-gorgo-*</c> headers.
/// </summary>
public sealed class MeshIngress(RegionState state, GossipService gossip, IGrainFactory grains, AdmissionGate admission, PromptEncoder encoder, ILogger<MeshIngress> logger)
{
    private long _requestIds;

    /// <summary>Serves <c>POST /v1/completions</c> or <c>/v1/chat/completions</c>.</summary>
    public async Task ServeAsync(HttpContext context, OpenAiEndpoint endpoint)
    {
        CancellationToken aborted = context.RequestAborted;
        double clientLegHalfMs = await ClientLegAsync(context, aborted).ConfigureAwait(false);
        using IDisposable? slot = await admission.EnterAsync(aborted).ConfigureAwait(false);
        if (slot is null)
        {
            context.Response.Headers.RetryAfter = state.Options.Admission.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new OpenAiError(429, $"The node of region '{state.Region}' is saturated; retry later.", OpenAiError.RateLimit, code: "node_saturated");
        }

        byte[] body = await ReadBodyAsync(context.Request, aborted).ConfigureAwait(false);
        OpenAiRequest request = OpenAiRequestParser.Parse(body, endpoint);
        int contextTokens = ContextOf(request.Model);
        PreparedPrompt prompt = PreparedPrompt.From(request, encoder, contextTokens, state.Options.DefaultMaxTokens);
        if (state.Consistency == "sync")
        {
            await gossip.SyncAsync(TimeSpan.FromSeconds(5), aborted).ConfigureAwait(false);
        }

        string? clientRegion = context.Request.Headers[RoutingHeaders.ClientRegion].FirstOrDefault();
        RoutingDecision decision = Route(request, prompt, clientRegion);
        GenerationRequest wire = GenerationRequest.From(request, prompt);

        // Open the stream on the chosen replica; if it fails before its first token, try the runner-up once.
        (IAsyncEnumerator<GenerationChunk> chunks, GenerationChunk first, CandidateScore served) = await OpenAsync(decision, wire, aborted).ConfigureAwait(false);
        await using (chunks.ConfigureAwait(false))
        {
            if (first.IsError)
            {
                throw first.ToError();
            }

            RoutingHeaders.Apply(context.Response.Headers, decision, state.Consistency);
            context.Response.Headers[RoutingHeaders.Region] = served.Region;
            context.Response.Headers[RoutingHeaders.Replica] = served.ReplicaId;
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

    /// <summary>The models served anywhere in the mesh, as <c>GET /v1/models</c> lists them.</summary>
    public IReadOnlyList<string> Models() => state.Router.Replicas.Select(r => r.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

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

    private static async Task StreamAsync(HttpResponse response, OpenAiResponses responses, OpenAiRequest request, IAsyncEnumerator<GenerationChunk> chunks, GenerationChunk first, CancellationToken aborted)
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        PipeWriter output = response.BodyWriter;
        await responses.WriteStartAsync(output, aborted).ConfigureAwait(false);
        GenerationChunk? chunk = first;
        while (chunk is not null)
        {
            if (chunk.IsError)
            {
                // Mid-stream failure: the status is already sent, so end the stream as OpenAI does, with an error event.
                await output.WriteAsync(Encoding.UTF8.GetBytes($"data: {chunk.ToError().ToJson()}\n\n"), aborted).ConfigureAwait(false);
                return;
            }

            if (chunk.FinishReason is { } finish)
            {
                await responses.WriteEndAsync(output, finish, request.IncludeUsage ? chunk.Usage : null, aborted).ConfigureAwait(false);
                return;
            }

            await responses.WriteTokenAsync(output, chunk.Text ?? string.Empty, aborted).ConfigureAwait(false);
            chunk = await chunks.MoveNextAsync().ConfigureAwait(false) ? chunks.Current : null;
        }
    }

    private static async Task RespondWholeAsync(HttpResponse response, OpenAiResponses responses, IAsyncEnumerator<GenerationChunk> chunks, GenerationChunk first, CancellationToken aborted)
    {
        var text = new StringBuilder();
        GenerationChunk? chunk = first;
        while (chunk is not null)
        {
            if (chunk.IsError)
            {
                throw chunk.ToError();
            }

            if (chunk.FinishReason is { } finish)
            {
                response.ContentType = "application/json";
                await response.Body.WriteAsync(responses.Complete(text.ToString(), finish, chunk.Usage), aborted).ConfigureAwait(false);
                return;
            }

            text.Append(chunk.Text);
            chunk = await chunks.MoveNextAsync().ConfigureAwait(false) ? chunks.Current : null;
        }

        throw new OpenAiError(502, "The replica's stream ended without a finish.", OpenAiError.Server, code: "backend_error");
    }

    private async Task<double> ClientLegAsync(HttpContext context, CancellationToken aborted)
    {
        string? clientRegion = context.Request.Headers[RoutingHeaders.ClientRegion].FirstOrDefault();
        if (clientRegion is null)
        {
            return 0;
        }

        if (!state.ConfiguredRtt.Contains(clientRegion))
        {
            throw OpenAiError.BadRequest($"Unknown client region '{clientRegion}' in {RoutingHeaders.ClientRegion}. Known regions: {string.Join(", ", state.ConfiguredRtt.Regions)}.", RoutingHeaders.ClientRegion);
        }

        if (!state.Options.WanEmulation || clientRegion == state.Region)
        {
            return 0;
        }

        double half = state.ConfiguredRtt.Get(clientRegion, state.Region) / 2;
        await Task.Delay(TimeSpan.FromMilliseconds(half), aborted).ConfigureAwait(false);
        return half;
    }

    private int ContextOf(string model)
    {
        IReadOnlyList<ReplicaView> replicas = state.Router.Replicas;
        int context = 0;
        foreach (ReplicaView r in replicas)
        {
            if (r.Model == model)
            {
                context = Math.Max(context, r.MaxContextTokens);
            }
        }

        return context > 0 ? context : throw OpenAiError.ModelNotFound(model);
    }

    private RoutingDecision Route(OpenAiRequest request, PreparedPrompt prompt, string? clientRegion)
    {
        RoutingScope scope = state.Consistency == "local-only" ? RoutingScope.HomeUnlessSaturated : RoutingScope.All;
        try
        {
            RoutingDecision decision = state.Router.Route(new RoutingRequest(prompt.Blocks, request.Model, clientRegion, prompt.MaxTokens, Interlocked.Increment(ref _requestIds), scope));
            state.Stats.Decided(decision.IsCrossRegion);
            return decision;
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

    /// <summary>
    /// Starts the request on a replica: this node's own replicas run in process (their grain lives on this silo anyway,
    /// so the call would only add Orleans messaging); other regions' through their replica grain, one hop away.
    /// </summary>
    private IAsyncEnumerator<GenerationChunk> Start(CandidateScore target, GenerationRequest wire, CancellationToken aborted)
    {
        IAsyncEnumerable<GenerationChunk> stream = target.Region == state.Region && state.FindLocal(target.ReplicaId) is { } local
            ? ReplicaRunner.RunAsync(local, wire, aborted)
            : grains.GetGrain<IReplicaGrain>(MeshKeys.Replica(target.Region, target.ReplicaId)).Generate(wire, aborted);
        return stream.GetAsyncEnumerator(aborted);
    }

    private async Task<(IAsyncEnumerator<GenerationChunk> Chunks, GenerationChunk First, CandidateScore Served)> OpenAsync(RoutingDecision decision, GenerationRequest wire, CancellationToken aborted)
    {
        CandidateScore target = decision.Chosen;
        for (int attempt = 0; ; attempt++)
        {
            IAsyncEnumerator<GenerationChunk> chunks = Start(target, wire, aborted);
            GenerationChunk first;
            try
            {
                first = await chunks.MoveNextAsync().ConfigureAwait(false)
                    ? chunks.Current
                    : GenerationChunk.FromError(new OpenAiError(502, "The replica ended the stream before its first token.", OpenAiError.Server, code: "backend_error"), retryable: true);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !aborted.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Replica {Replica} in {Region} failed before its first token", target.ReplicaId, target.Region);
                first = GenerationChunk.FromError(new OpenAiError(503, $"Replica '{target.ReplicaId}' in region '{target.Region}' is unreachable.", OpenAiError.Server, code: "replica_unavailable"), retryable: true);
            }

            if (!first.IsError || !first.Retryable || attempt > 0 || decision.RunnerUp is not { } runnerUp)
            {
                return (chunks, first, target);
            }

            await chunks.DisposeAsync().ConfigureAwait(false);
            logger.LogInformation("Retrying request {Request} on runner-up {Replica} after: {Error}", decision.RequestId, runnerUp.ReplicaId, first.ErrorMessage);
            target = runnerUp;
        }
    }
}
