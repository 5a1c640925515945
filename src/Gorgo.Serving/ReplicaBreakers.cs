using System.Collections.Concurrent;
using Gorgo.Replica.Backends;
using Gorgo.Routing;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace Gorgo.Serving;

/// <summary>
/// A circuit breaker per replica (Polly) on the calls that open its streams: when enough of them fail for the
/// replica's sake (transport failures, timeouts, 5xx; never 4xx or 429) it opens, and the router stops offering the
/// replica; after the break, routing offers it again and the next call probes it (half-open): success closes the
/// breaker, failure opens it again.
/// </summary>
public sealed class ReplicaBreakers
{
    private readonly ConcurrentDictionary<string, Breaker> _breakers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _open = new(StringComparer.Ordinal);
    private volatile string? _openList;
    private readonly Router _router;
    private readonly ResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the breakers of the replicas <paramref name="router"/> routes to.</summary>
    public ReplicaBreakers(Router router, ResilienceOptions options, ILogger logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _router = router;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Runs <paramref name="call"/> for <paramref name="replicaId"/> through its breaker; throws <see cref="BrokenCircuitException"/> while it is open.</summary>
    public ValueTask<TResult> ExecuteAsync<TResult, TState>(string replicaId, Func<TState, CancellationToken, ValueTask<TResult>> call, TState state, CancellationToken cancellationToken) =>
        _breakers.GetOrAdd(replicaId, static (id, self) => self.Create(id), this).Pipeline.ExecuteAsync(call, state, cancellationToken);

    /// <summary>The replicas whose breaker is open or half-open, comma-separated in name order; null when none (for the decision record's <c>x-gorgo-open-circuits</c>).</summary>
    public string? OpenCircuits => _openList;

    /// <summary>Each replica's breaker state (<c>closed</c>, <c>open</c>, <c>half-open</c>), for the state endpoints.</summary>
    public IReadOnlyDictionary<string, string> Describe() => _breakers
        .OrderBy(b => b.Key, StringComparer.Ordinal)
        .ToDictionary(b => b.Key, b => b.Value.State.CircuitState switch
        {
            CircuitState.Open or CircuitState.Isolated => "open",
            CircuitState.HalfOpen => "half-open",
            _ => "closed",
        }, StringComparer.Ordinal);

    private Breaker Create(string replicaId)
    {
        var state = new CircuitBreakerStateProvider();
        ResiliencePipeline pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = _options.BreakerFailureRatio,
                MinimumThroughput = _options.BreakerMinimumThroughput,
                SamplingDuration = TimeSpan.FromMilliseconds(_options.BreakerSamplingMs),
                BreakDuration = TimeSpan.FromMilliseconds(_options.BreakerBreakMs),
                StateProvider = state,
                ShouldHandle = new PredicateBuilder().Handle<BackendException>(e => e.CountsAgainstReplica),
                OnOpened = args =>
                {
                    _router.SetSuspended(replicaId, true);
                    SetOpen(replicaId, true);
                    _logger.LogWarning("Circuit of replica {Replica} opened for {Break} s after repeated failures: {Error}", replicaId, args.BreakDuration.TotalSeconds, args.Outcome.Exception?.Message);
                    _ = OfferAgainAfterAsync(replicaId, args.BreakDuration);
                    return default;
                },
                OnClosed = _ =>
                {
                    _router.SetSuspended(replicaId, false);
                    SetOpen(replicaId, false);
                    _logger.LogInformation("Circuit of replica {Replica} closed: it serves again", replicaId);
                    return default;
                },
            })
            .Build();
        return new Breaker(pipeline, state);
    }

    /// <summary>After the break, routing may choose the replica again, and that call probes it.</summary>
    private async Task OfferAgainAfterAsync(string replicaId, TimeSpan breakDuration)
    {
        await Task.Delay(breakDuration, _time).ConfigureAwait(false);
        _router.SetSuspended(replicaId, false);
    }

    private void SetOpen(string replicaId, bool open)
    {
        bool changed = open ? _open.TryAdd(replicaId, 0) : _open.TryRemove(replicaId, out _);
        if (changed)
        {
            _openList = _open.IsEmpty ? null : string.Join(',', _open.Keys.Order(StringComparer.Ordinal));
        }
    }

    private sealed record Breaker(ResiliencePipeline Pipeline, CircuitBreakerStateProvider State);
}
