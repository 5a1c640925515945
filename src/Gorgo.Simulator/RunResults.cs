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
            EntryRegion = context.RegionName(request.Ingress),
            EstimatedTtftMs = request.EstimatedTtftMs,
            MatchedTokens = request.MatchedTokens,
            StateAgeMs = request.StateAgeMs,
            HomeIdleOverride = request.HomeIdleOverride,
            BestForecastTtftMs = request.BestForecastTtftMs,
            BestHomeForecastTtftMs = request.BestHomeForecastTtftMs,
        };
        _accumulator.AddCompleted(record);
        _records?.Add(record);
        context.ClientDone?.Invoke(timing.FinishedMs + returnLegMs);
        context.InFlight--;
    }

    /// <summary>A request failed with an HTTP status.</summary>
    public void Fail(SimRequest request, int status, string error)
    {
        _accumulator.AddFailed(status);
        _records?.Add(new RequestRecord
        {
            Run = context.Run.Name,
            Index = request.Shape.Index,
            UserRegion = context.RegionName(request.User),
            ArrivalMs = request.Shape.ArrivalMs,
            EntryRegion = context.RegionName(request.Ingress),
            Status = status,
            PromptTokens = request.Prompt.TokenCount,
            Error = error,
        });
        context.ClientDone?.Invoke(context.NowMs + context.OneWay(request.Ingress, request.User, sameRegionFree: true));
        context.InFlight--;
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
