using Gorgo.Engine.Model;
using Gorgo.Routing;
using Gorgo.Scenarios.Results;

namespace Gorgo.Simulator;

/// <summary>A simulated run's results: every request summarised into the run's accumulator and, when kept, its record.</summary>
internal sealed class RunResults(SimContext context, string? consistency, string scope, bool keepRecords)
{
    private readonly RunAccumulator _accumulator = new(context.Run.Name, context.Run.ModeName, context.Run.Policy, consistency, scope);
    private readonly List<RequestRecord>? _records = keepRecords ? [] : null;

    /// <summary>Requests summarised so far.</summary>
    public int Requests => _accumulator.Requests;

    /// <summary>Every request's record, when kept.</summary>
    public IReadOnlyList<RequestRecord>? Records => _records;

    /// <summary>Told when a request has been accounted for (the fault model stops following it).</summary>
    public Action<SimRequest>? Ended { get; set; }

    /// <summary>Whether records say how many replicas each request tried (runs with faults; elsewhere every request tries one).</summary>
    public bool RecordAttempts { get; init; }

    /// <summary>A request's first token and end reached its client <paramref name="returnLegMs"/> after the replica produced them.</summary>
    public void Complete(SimRequest request, SimReplica replica, RequestTiming timing, double returnLegMs)
    {
        double sent = request.Shape.ArrivalMs;
        var record = new RequestRecord
        {
            Run = context.Run.Name,
            Index = request.Shape.Index,
            UserRegion = context.RegionName(request.User),
            ArrivalMs = sent,
            Status = 200,
            Completed = true,
            TtftMs = timing.FirstTokenMs + returnLegMs - sent,
            E2eMs = timing.FinishedMs + returnLegMs - sent,
            PromptTokens = timing.PromptTokens,
            CachedTokens = timing.CachedTokens,
            OutputTokens = timing.GeneratedTokens,
            ServedRegion = context.RegionName(replica.Region),
            Replica = replica.Id,
            EntryRegion = Entry(request),
            EstimatedTtftMs = request.EstimatedTtftMs,
            MatchedTokens = request.MatchedTokens,
            StateAgeMs = request.StateAgeMs,
            HomeIdleOverride = request.HomeIdleOverride,
            BestForecastTtftMs = request.BestForecastTtftMs,
            BestHomeForecastTtftMs = request.BestHomeForecastTtftMs,
            Attempts = RecordAttempts ? request.Attempts : null,
            Tried = Tried(request),
        };
        _accumulator.Add(record);
        _records?.Add(record);
        context.ClientDone?.Invoke(timing.FinishedMs + returnLegMs);
        End(request);
    }

    /// <summary>Faults only: a stream that ended without completing, as its client saw it (an error event, or cut), at the current time.</summary>
    public void EndStream(SimRequest request, StreamEnding ending, double? ttftMs, string error)
    {
        double leg = context.OneWay(request.Ingress, request.User, sameRegionFree: true);
        RequestRecord record = Unfinished(request, status: 200, error) with
        {
            TtftMs = ttftMs,
            E2eMs = context.NowMs + leg - request.Shape.ArrivalMs,
            ServedRegion = request.Replica >= 0 ? context.RegionName(ServedRegionOf(request)) : null,
            Replica = request.Replica >= 0 ? ReplicaIdOf(request) : null,
            Ending = ending,
        };
        _accumulator.Add(record);
        _records?.Add(record);
        context.ClientDone?.Invoke(context.NowMs + leg);
        End(request);
    }

    /// <summary>Resolves a request's replica index to its region and id (set by the fleet).</summary>
    public Func<int, (int Region, string Id)>? ReplicaOf { get; set; }

    private int ServedRegionOf(SimRequest request) => ReplicaOf!(request.Replica).Region;

    private string ReplicaIdOf(SimRequest request) => ReplicaOf!(request.Replica).Id;

    /// <summary>The record of a request that did not complete: who sent it, when, through which node, what it tried, and why it failed.</summary>
    private RequestRecord Unfinished(SimRequest request, int status, string error) => new()
    {
        Run = context.Run.Name,
        Index = request.Shape.Index,
        UserRegion = context.RegionName(request.User),
        ArrivalMs = request.Shape.ArrivalMs,
        EntryRegion = Entry(request),
        Status = status,
        PromptTokens = request.Prompt.TokenCount,
        Attempts = RecordAttempts ? request.Attempts : null,
        Tried = Tried(request),
        Error = error,
    };

    private string? Entry(SimRequest request) => request.Ingress >= 0 ? context.RegionName(request.Ingress) : null;

    private static string? Tried(SimRequest request) => request.Tried is { Count: > 0 } tried ? string.Join(';', tried) : null;

    private void End(SimRequest request)
    {
        request.Done = true;
        context.InFlight--;
        Ended?.Invoke(request);
    }

    /// <summary>A request failed with an HTTP status.</summary>
    public void Fail(SimRequest request, int status, string error)
    {
        RequestRecord record = Unfinished(request, status, error) with { E2eMs = RecordAttempts ? context.NowMs - request.Shape.ArrivalMs : null };
        _accumulator.Add(record);
        _records?.Add(record);
        context.ClientDone?.Invoke(context.NowMs + (request.Ingress >= 0 ? context.OneWay(request.Ingress, request.User, sameRegionFree: true) : 0));
        End(request);
    }

    /// <summary>A routing failure, answered with the status the live front door gives it.</summary>
    public void Fail(SimRequest request, RoutingException ex) => Fail(request, StatusOf(ex.Failure), ex.Message);

    /// <summary>The run's summary.</summary>
    public RunSummary ToSummary() => _accumulator.ToSummary();

    private static int StatusOf(RoutingFailure failure) => failure switch
    {
        RoutingFailure.ModelNotFound => 404,
        RoutingFailure.PromptTooLong => 400,
        RoutingFailure.Saturated => 429,
        _ => 503,
    };
}
