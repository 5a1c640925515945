using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Replica.Server;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Gorgo.Serving.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Gorgo.Serving;

/// <summary>What differs between the deployments a <see cref="FrontDoor"/> serves: the router, how a chosen replica is reached, and hooks.</summary>
public interface IFrontDoorBackend
{
    /// <summary>The router deciding for this front door.</summary>
    Router Router { get; }

    /// <summary>
    /// Decides where the request goes: at once on the router (the mesh; under <c>sync</c> after querying every region),
    /// or when the deployment's admission lets it go (the proxy's late binding routes the head of its queue when a
    /// replica can take it). Failures are <see cref="RoutingException"/>s. A backend that decides at once writes the
    /// decision into <paramref name="into"/>, a record the front door reuses once the request is over; one that decides
    /// later, on another thread, returns a record of its own.
    /// </summary>
    ValueTask<RoutingDecision> RouteAsync(RoutingRequest routing, BackendRequest request, RoutingDecision into, CancellationToken cancellationToken);

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

    /// <summary>Retries before the first token and the replicas' circuit breakers.</summary>
    public ResilienceOptions Resilience { get; init; } = new();

    /// <summary>
    /// Models the deployment is configured to serve somewhere: a request for one of them that no replica in this node's
    /// view serves now (its regions are down or cut off) gets a retryable 503 <c>model_unavailable</c>, not 404.
    /// </summary>
    public IReadOnlySet<string> ConfiguredModels { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>
/// The routed OpenAI front door: admission, validation, tokenization, the routing decision, dispatch to the chosen
/// replica (when it fails before its first token, the next best ones, with jittered backoff, through each replica's
/// circuit breaker), and the streamed or whole answer with the <c>x-gorgo-*</c> headers. The mesh ingress and the
/// centralized proxy are both this, with different backends.
/// </summary>
public sealed partial class FrontDoor
{
    private readonly IFrontDoorBackend _backend;
    private readonly AdmissionGate _admission;
    private readonly PromptEncoders _encoders;
    private readonly ILogger<FrontDoor> _logger;
    private readonly ResiliencePipeline _firstToken;
    private readonly ObjectPool<RoutingDecision> _records = new DefaultObjectPool<RoutingDecision>(new DefaultPooledObjectPolicy<RoutingDecision>(), 256);
    private long _requestIds;

    /// <summary>Creates the front door; <paramref name="encoders"/> tokenizes each model's prompts.</summary>
    public FrontDoor(FrontDoorOptions options, IFrontDoorBackend backend, AdmissionGate admission, PromptEncoders encoders, ILogger<FrontDoor> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backend);
        Options = options;
        _backend = backend;
        _admission = admission;
        _encoders = encoders ?? throw new ArgumentNullException(nameof(encoders));
        _logger = logger;
        Breakers = new ReplicaBreakers(backend.Router, options.Resilience, logger);
        _firstToken = FirstTokenPipeline(options.Resilience);
    }

    /// <summary>The settings in force.</summary>
    public FrontDoorOptions Options { get; }

    /// <summary>The replicas' circuit breakers.</summary>
    public ReplicaBreakers Breakers { get; }

    /// <summary>The last requests routed, for the status page.</summary>
    public DecisionLog Decisions { get; } = new();

    /// <summary>The router deciding for this front door.</summary>
    public Router Router => _backend.Router;

    /// <summary>
    /// Serves <c>POST /v1/completions</c> or <c>/v1/chat/completions</c>, and accounts for it: metrics, one log event,
    /// the status page's decision list.
    /// </summary>
    public async Task ServeAsync(HttpContext context, OpenAiEndpoint endpoint)
    {
        var served = new ServedRequest(Stopwatch.GetTimestamp());
        RoutingDecision record = _records.Get();
        try
        {
            await ServeCoreAsync(context, endpoint, served, record).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            served.Failed(ex, context.RequestAborted.IsCancellationRequested);
            throw;
        }
        finally
        {
            Account(served);
            served.Decision = null; // the record is reused by the next request: nothing of this one reads it any more
            _records.Return(record);
        }
    }

    private async Task ServeCoreAsync(HttpContext context, OpenAiEndpoint endpoint, ServedRequest served, RoutingDecision record)
    {
        CancellationToken aborted = context.RequestAborted;
        (string? clientRegion, double clientLegHalfMs) = await ClientLegAsync(context, aborted).ConfigureAwait(false);
        served.ClientRegion = clientRegion;
        served.EmulatedLegAfterMs = clientLegHalfMs;
        long arrived = Stopwatch.GetTimestamp();
        if (_admission.IsDraining)
        {
            throw new OpenAiError(503, $"The router in region '{Options.Region}' is shutting down; retry, and another node will serve you.", OpenAiError.Server, code: "node_draining") { RetryAfterSeconds = _admission.Options.RetryAfterSeconds };
        }

        using IDisposable? slot = await _admission.EnterAsync(aborted).ConfigureAwait(false);
        if (slot is null)
        {
            throw new OpenAiError(429, $"The router in region '{Options.Region}' is saturated; retry later.", OpenAiError.RateLimit, code: "router_saturated") { RetryAfterSeconds = _admission.Options.RetryAfterSeconds };
        }

        byte[] body = await OpenAiBody.ReadAsync(context.Request, aborted).ConfigureAwait(false);
        OpenAiRequest request = OpenAiRequestParser.Parse(body, endpoint);
        PreparedPrompt prompt = PreparedPrompt.From(request, _encoders.For(request.Model), ContextOf(request.Model), Options.DefaultMaxTokens);
        var backendRequest = new BackendRequest(request, prompt);
        RoutingDecision decision;
        served.WaitedMs = Stopwatch.GetElapsedTime(arrived).TotalMilliseconds;
        using (Activity? routing = GorgoTelemetry.Source.StartActivity("gorgo.route"))
        {
            decision = await RouteAsync(request, prompt, clientRegion, backendRequest, record, aborted).ConfigureAwait(false);
            RequestTracing.Tag(routing, decision);
        }

        Decided(served, decision, clientRegion);
        using Activity? generation = GorgoTelemetry.Source.StartActivity("gorgo.generate");
        OpenStream opened = await OpenAsync(decision, backendRequest, aborted).ConfigureAwait(false);
        await using (opened.ConfigureAwait(false))
        {
            (IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CandidateScore replica) = (opened.Chunks, opened.First, opened.Served);
            served.FirstToken(Stopwatch.GetTimestamp(), replica, opened.Attempts, first.ServedBy, first.ServedBy is { } servedBy ? Router.RegionOfReplica(servedBy) : null);
            RequestTracing.Tag(generation, replica, opened.Attempts);
            RoutingHeaders.Apply(context.Response.Headers, decision, Options.Consistency, served.WaitedMs);
            context.Response.Headers[RoutingHeaders.Region] = served.ServedRegion;
            context.Response.Headers[RoutingHeaders.Replica] = served.ServedBy;
            if (first.ServedBy is not null)
            {
                context.Response.Headers[RoutingHeaders.ReboundFrom] = replica.ReplicaId;
            }

            context.Response.Headers[RoutingHeaders.Attempts] = opened.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture);
            context.Response.Headers[RoutingHeaders.MeasuredTtft] = served.TtftMs.GetValueOrDefault().ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
            if (opened.Failed is { } failed)
            {
                context.Response.Headers[RoutingHeaders.Tried] = failed;
            }
            if (Breakers.OpenCircuits is { } open)
            {
                context.Response.Headers[RoutingHeaders.OpenCircuits] = open;
            }

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
                served.Outcome = await StreamAsync(context.Response, responses, request, chunks, first, aborted).ConfigureAwait(false)
                    ? RequestOutcomes.Ok
                    : RequestOutcomes.ServerError;
            }
            else
            {
                await RespondWholeAsync(context.Response, responses, chunks, first, aborted).ConfigureAwait(false);
                served.Outcome = RequestOutcomes.Ok;
            }
        }
    }

    /// <summary>Counts the decision and opens the request's entry in the decision list.</summary>
    private void Decided(ServedRequest served, RoutingDecision decision, string? clientRegion)
    {
        CandidateScore chosen = decision.Chosen;
        var region = new KeyValuePair<string, object?>("region", Options.Region);
        GorgoMetrics.Decisions.Add(1, region, new("policy", decision.Policy), new("placement", chosen.IsHome ? "home" : "cross_region"));
        GorgoMetrics.StateAge.Record(chosen.StateAgeMs / 1000, region);
        served.Decision = decision;

        // What the ingress can observe of the estimate: without emulation the client's leg happens outside it.
        served.UnseenClientLegMs = served.EmulatedLegAfterMs > 0 || clientRegion is null ? 0 : _backend.Router.ClientLegMs(clientRegion);
        TtftCalibration? calibration = _backend.Router.CalibrationInUse(chosen.ReplicaId);
        served.Entry = new DecisionEntry
        {
            RequestId = decision.RequestId,
            AtUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            Policy = decision.Policy,
            ClientRegion = clientRegion,
            PromptTokens = decision.PromptTokens,
            MatchedTokens = chosen.MatchedTokens,
            Replica = chosen.ReplicaId,
            ReplicaRegion = chosen.Region,
            EstimatedTtftMs = chosen.Estimate.TotalMs,
            StateAgeMs = chosen.StateAgeMs,
            CacheView = _backend.Router.CacheViewOf(chosen.ReplicaId).Name(),
            CalibrationQueueGain = calibration is { } fit ? Math.Round(fit.QueueGain, 3) : null,
            CalibrationPrefillGain = calibration is { } fitted ? Math.Round(fitted.PrefillGain, 3) : null,
            CalibrationOverheadMs = calibration is { } used ? Math.Round(used.OverheadMs, 1) : null,
            TransitAllowanceMs = chosen.TransitAllowanceMs > 0 ? Math.Round(chosen.TransitAllowanceMs, 1) : null,
        };
        Decisions.Add(served.Entry);
    }

    /// <summary>Records a finished request: outcome, latencies, estimate error, its decision-list entry and its log event.</summary>
    private void Account(ServedRequest served)
    {
        string outcome = served.Outcome ?? RequestOutcomes.ServerError;
        var region = new KeyValuePair<string, object?>("region", Options.Region);
        GorgoMetrics.Requests.Add(1, region, new("outcome", outcome));
        if (served.RejectedFor is { } reason)
        {
            GorgoMetrics.AdmissionRejections.Add(1, region, new("reason", reason));
        }

        double? ttft = served.TtftMs;
        double? estimated = served.Decision is { } d ? served.WaitedMs + d.Chosen.Estimate.TotalMs - served.UnseenClientLegMs : null;
        if (ttft is { } t)
        {
            GorgoMetrics.Ttft.Record(t / 1000, region);
            if (estimated is { } e)
            {
                GorgoMetrics.EstimateError.Record((t - e) / 1000, region);

                // The time the model's queue and prefill terms (and overhead) should explain: what the ingress saw, less
                // the wait before the decision and the network part of the estimate it could see. Only a first attempt
                // on the chosen replica says anything of that replica (a retry's TTFT holds the failed attempts and
                // another replica's work).
                CandidateScore chosen = served.Decision!.Chosen;
                if (served.Attempts == 1 && served.Replica is { } replica && replica.ReplicaId == chosen.ReplicaId)
                {
                    TtftEstimate model = served.Decision.ChosenModelEstimate;
                    _backend.Router.Observe(chosen.ReplicaId, model.QueueMs, model.PrefillMs, t - served.WaitedMs - (chosen.Estimate.NetworkMs - served.UnseenClientLegMs));
                }
            }
        }

        double e2e = served.ElapsedMs(Stopwatch.GetTimestamp());
        if (outcome == RequestOutcomes.Ok)
        {
            GorgoMetrics.EndToEnd.Record(e2e / 1000, region);
        }

        if (served.Entry is { } entry)
        {
            entry.ServedBy = served.ServedBy;
            entry.TtftMs = ttft;
            entry.Outcome = outcome;
        }

        LogRequest(_logger, served.Decision?.RequestId ?? 0, outcome, served.Status, Options.Region, served.ClientRegion, served.ServedBy ?? served.Decision?.Chosen.ReplicaId, served.ServedRegion ?? served.Decision?.Chosen.Region, served.Decision?.Chosen.Estimate.TotalMs, ttft, e2e, served.Decision?.PromptTokens, served.Decision?.MatchedTokens, served.Attempts);
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Request {Request} {Outcome} ({Status}): ingress {Ingress}, client {ClientRegion}, replica {Replica} in {ReplicaRegion}, estimated {EstimatedTtftMs:F0} ms, TTFT {TtftMs:F0} ms, total {E2eMs:F0} ms, prompt {PromptTokens} tokens ({MatchedTokens} matched), {Attempts} attempt(s)")]
    private static partial void LogRequest(ILogger logger, long request, string outcome, int status, string ingress, string? clientRegion, string? replica, string? replicaRegion, double? estimatedTtftMs, double? ttftMs, double e2eMs, int? promptTokens, int? matchedTokens, int attempts);

    /// <summary>The models any replica serves, as <c>GET /v1/models</c> lists them.</summary>
    public IReadOnlyList<string> Models() => _backend.Router.Replicas.Select(r => r.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    private static async Task<BackendChunk?> NextAsync(IAsyncEnumerator<BackendChunk> chunks) =>
        await chunks.MoveNextAsync().ConfigureAwait(false) ? chunks.Current : null;

    /// <summary>Streams the answer; false when it had to end with an error event.</summary>
    private async Task<bool> StreamAsync(HttpResponse response, OpenAiResponses responses, OpenAiRequest request, IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CancellationToken aborted)
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
                return true;
            }

            await responses.WriteTokenAsync(output, c.Text ?? string.Empty, aborted).ConfigureAwait(false);
            try
            {
                chunk = await NextAsync(chunks).ConfigureAwait(false);
            }
            catch (Exception ex) when (!aborted.IsCancellationRequested)
            {
                // Mid-stream failure (the replica, its node or the link to it): the status is already sent, so end the
                // stream with an error event and [DONE] rather than a cut connection.
                _logger.LogWarning(ex, "A stream broke off after its first token; ending it with an error event");
                await OpenAiResponses.WriteErrorEndAsync(output, MidStreamError(ex), aborted).ConfigureAwait(false);
                return false;
            }
        }

        await OpenAiResponses.WriteErrorEndAsync(output, MidStreamError(null), aborted).ConfigureAwait(false);
        return false;
    }

    private static OpenAiError MidStreamError(Exception? failure) => failure switch
    {
        BackendException backend => backend.ToOpenAiError(),
        null => new OpenAiError(502, "The replica's stream ended without a finish.", OpenAiError.Server, code: "backend_error"),
        _ => new OpenAiError(502, "The replica's stream broke off: its node or the link to it failed.", OpenAiError.Server, code: "backend_unavailable"),
    };

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
            catch (Exception ex) when (!aborted.IsCancellationRequested)
            {
                throw MidStreamError(ex);
            }
        }

        throw MidStreamError(null);
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
        foreach (ReplicaView r in _backend.Router.Replicas)
        {
            if (r.Model == model)
            {
                context = Math.Max(context, r.MaxContextTokens);
            }
        }

        return context > 0 ? context : throw Missing(model);
    }

    /// <summary>404 for a model the deployment does not serve; a retryable 503 for one it does whose replicas are all out of this node's view now.</summary>
    private OpenAiError Missing(string model) => Options.ConfiguredModels.Contains(model)
        ? new OpenAiError(503, $"No replica of model `{model}` is reachable from region '{Options.Region}' now: its regions are down or cut off. Retry later.", OpenAiError.Server, code: "model_unavailable") { RetryAfterSeconds = _admission.Options.RetryAfterSeconds }
        : OpenAiError.ModelNotFound(model);

    private async Task<RoutingDecision> RouteAsync(OpenAiRequest request, PreparedPrompt prompt, string? clientRegion, BackendRequest backendRequest, RoutingDecision record, CancellationToken aborted)
    {
        try
        {
            // A chat prompt is tokenized through the node's own template, which engines do not share.
            var routing = new RoutingRequest(prompt.Blocks, request.Model, clientRegion, prompt.MaxTokens, Interlocked.Increment(ref _requestIds), Options.Scope, OwnRendering: request.Messages is not null);
            return await _backend.RouteAsync(routing, backendRequest, record, aborted).ConfigureAwait(false);
        }
        catch (RoutingException ex)
        {
            throw ex.Failure switch
            {
                RoutingFailure.ModelNotFound => Missing(request.Model),
                RoutingFailure.PromptTooLong => new OpenAiError(413, ex.Message, OpenAiError.InvalidRequest, "messages", "context_length_exceeded"),
                RoutingFailure.Saturated => new OpenAiError(429, ex.Message, OpenAiError.RateLimit, code: "replicas_saturated") { RetryAfterSeconds = _admission.Options.RetryAfterSeconds },
                _ => new OpenAiError(503, ex.Message, OpenAiError.Server, code: "no_healthy_replica"),
            };
        }
    }

    /// <summary>
    /// Starts the request and waits for its first token: on the chosen replica, then, if that fails for a reason another
    /// replica might not share (not a 4xx), on the next best by estimate, up to <see cref="ResilienceOptions.MaxAttempts"/>
    /// replicas with jittered exponential backoff, all within <see cref="ResilienceOptions.FirstTokenTimeoutMs"/>. Each
    /// attempt goes through its replica's circuit breaker.
    /// </summary>
    private async Task<OpenStream> OpenAsync(RoutingDecision decision, BackendRequest request, CancellationToken aborted)
    {
        var attempts = new Attempts(this, decision, request, aborted);
        try
        {
            return await _firstToken.ExecuteAsync(static (a, token) => a.Door.AttemptAsync(a, token), attempts, aborted).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException)
        {
            throw new OpenAiError(504, $"No replica produced a first token within {Options.Resilience.FirstTokenTimeoutMs} ms ({attempts.Tried} tried).", OpenAiError.Server, code: "first_token_timeout");
        }
        catch (BrokenCircuitException)
        {
            throw new OpenAiError(503, $"Every replica tried for this request is failing ({attempts.Tried} tried); retry later.", OpenAiError.Server, code: "replica_unavailable");
        }
        catch (BackendException ex)
        {
            throw ex.ToOpenAiError();
        }
    }

    private async ValueTask<OpenStream> AttemptAsync(Attempts attempts, CancellationToken attemptToken)
    {
        if (attempts.Next() is not { } target)
        {
            // Nothing else to try: the last failure is the answer, and it must not be retried again.
            throw attempts.Last is { } last ? new BackendException(BackendFailure.Rejected, last.Message, last.Status, last, last.ToOpenAiError()) : new BackendException(BackendFailure.Rejected, "No replica can take the request.", 503);
        }

        if (attempts.Tried > 1)
        {
            _logger.LogInformation("Retrying request {Request} on {Replica} in {Region} (attempt {Attempt}) after: {Error}", attempts.Decision.RequestId, target.ReplicaId, target.Region, attempts.Tried, attempts.Last?.Message);
        }

        try
        {
            return await Breakers.ExecuteAsync(target.ReplicaId, static (s, token) => s.Attempts.Door.OpenOnAsync(s.Target, s.Attempts, token), (Attempts: attempts, Target: target), attemptToken).ConfigureAwait(false);
        }
        catch (BackendException ex)
        {
            attempts.Last = ex;
            throw;
        }
        catch (BrokenCircuitException ex)
        {
            attempts.Last = new BackendException(BackendFailure.Unavailable, $"Replica '{target.ReplicaId}' in region '{target.Region}' is failing; its circuit is open.", 503, ex);
            throw;
        }
    }

    /// <summary>One attempt: the stream on <paramref name="target"/> up to its first chunk; any failure becomes a <see cref="BackendException"/>.</summary>
    private async ValueTask<OpenStream> OpenOnAsync(CandidateScore target, Attempts attempts, CancellationToken attemptToken)
    {
        // The stream lives on the request's token; the attempt's (deadline) token only bounds the wait for the first chunk.
        var stream = CancellationTokenSource.CreateLinkedTokenSource(attempts.Aborted);
        IAsyncEnumerator<BackendChunk> chunks = _backend.RunAsync(target, attempts.Request, stream.Token).GetAsyncEnumerator(stream.Token);
        try
        {
            bool any;
            using (attemptToken.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), stream))
            {
                any = await chunks.MoveNextAsync().ConfigureAwait(false);
            }

            return any
                ? new OpenStream(chunks, chunks.Current, target, stream, attempts.Tried, attempts.FailedBefore(target))
                : throw new BackendException(BackendFailure.Failed, $"Replica '{target.ReplicaId}' ended the stream before its first token.");
        }
        catch (Exception ex)
        {
            await stream.CancelAsync().ConfigureAwait(false);
            await DisposeQuietlyAsync(chunks).ConfigureAwait(false);
            stream.Dispose();
            if (attempts.Aborted.IsCancellationRequested)
            {
                throw; // the client went away
            }

            if (attemptToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(attemptToken); // the deadline: Polly reports it as a timeout
            }

            if (ex is BackendException)
            {
                throw;
            }

            _logger.LogWarning(ex, "Replica {Replica} in {Region} failed before its first token", target.ReplicaId, target.Region);
            throw new BackendException(BackendFailure.Unavailable, $"Replica '{target.ReplicaId}' in region '{target.Region}' is unreachable.", inner: ex);
        }
    }

    private static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<BackendChunk> chunks)
    {
        try
        {
            await chunks.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The stream failed already; ending it has nothing more to say.
        }
    }

    private static ResiliencePipeline FirstTokenPipeline(ResilienceOptions options)
    {
        var builder = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromMilliseconds(options.FirstTokenTimeoutMs));
        if (options.MaxAttempts > 1)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(options.RetryBaseDelayMs),
                ShouldHandle = new PredicateBuilder().Handle<BackendException>(e => e.Retryable).Handle<BrokenCircuitException>(),
            });
        }

        return builder.Build();
    }

    /// <summary>The replicas a request may try, best first: the chosen one, then the others by estimated TTFT, skipping those whose circuit is open.</summary>
    private sealed class Attempts(FrontDoor door, RoutingDecision decision, BackendRequest request, CancellationToken aborted)
    {
        private readonly List<string> _tried = [];

        public FrontDoor Door { get; } = door;

        public RoutingDecision Decision { get; } = decision;

        public BackendRequest Request { get; } = request;

        public CancellationToken Aborted { get; } = aborted;

        public BackendException? Last { get; set; }

        public int Tried => _tried.Count;

        /// <summary>The failed attempts before <paramref name="served"/>'s, as their replicas comma-separated (one may appear again after a transient failure); null when it was the first.</summary>
        public string? FailedBefore(CandidateScore served) => _tried.Count <= 1 ? null : string.Join(',', _tried.Take(_tried.Count - 1));

        public CandidateScore? Next()
        {
            if (_tried.Count == 0)
            {
                _tried.Add(Decision.Chosen.ReplicaId);
                return Decision.Chosen;
            }

            CandidateScore? next = Retries.Next(Decision.Candidates, _tried, Door._backend.Router, transient: Last?.Failure == BackendFailure.Unavailable);
            if (next is { } chosen)
            {
                _tried.Add(chosen.ReplicaId);
            }

            return next;
        }
    }

    /// <summary>A stream that has produced its first chunk, with what must be disposed when the response ends.</summary>
    private sealed class OpenStream(IAsyncEnumerator<BackendChunk> chunks, BackendChunk first, CandidateScore served, CancellationTokenSource lifetime, int attempts, string? failed) : IAsyncDisposable
    {
        public int Attempts { get; } = attempts;

        public string? Failed { get; } = failed;

        public IAsyncEnumerator<BackendChunk> Chunks { get; } = chunks;

        public BackendChunk First { get; } = first;

        public CandidateScore Served { get; } = served;

        public async ValueTask DisposeAsync()
        {
            await DisposeQuietlyAsync(Chunks).ConfigureAwait(false);
            lifetime.Dispose();
        }
    }
}
