using Gorgo.Engine.Model;

namespace Gorgo.Simulator;

/// <summary>
/// Forecasts, from the true state of the engines (the oracle's machinery: a copy of the engine runs its scheduler
/// forward, with the requests already on their way), the TTFT a request would see on a replica if it were sent there
/// now, measured from when its client sent it. The outcome metrics compare every run's realized TTFT with these
/// forecasts: the best over every replica the deployment could use (regret) and the best in the client's own region
/// (harmful forwards).
/// </summary>
internal sealed class OutcomeForecaster(SimContext context, SimFleet fleet)
{
    private const double MaxHorizonMs = 3_600_000;

    /// <summary>
    /// The request's TTFT if sent now to <paramref name="replica"/>: the time since it was sent, <paramref name="forwardMs"/>
    /// to reach the replica, its first token there, <paramref name="returnMs"/> back to the client; infinity when it
    /// cannot beat <paramref name="boundMs"/>.
    /// </summary>
    public double Forecast(SimRequest request, SimReplica replica, double forwardMs, double returnMs, double boundMs = double.PositiveInfinity)
    {
        double now = context.NowMs;
        double elapsed = now - request.Shape.ArrivalMs;
        fleet.CutRun(replica); // the forecast starts from the step under way
        var probe = new EngineRequest(request.Shape.Index, request.Prompt, request.Shape.OutputTokens);
        double horizon = now + Math.Min(boundMs - elapsed - returnMs, MaxHorizonMs);
        double first = replica.Engine.ForecastFirstTokenMs(probe, now, now + forwardMs, replica.Stepping ? replica.StepEndsAtMs : null, horizon, replica.InTransit);
        return double.IsFinite(first) ? elapsed + (first - now) + returnMs : double.PositiveInfinity;
    }

    /// <summary>Sets the request's best forecast TTFT over <paramref name="pool"/> and over the pool's replicas in the client's region.</summary>
    public void Record(SimRequest request, int[] pool, Func<SimReplica, double> forwardMs, Func<SimReplica, double> returnMs)
    {
        double bestHome = double.PositiveInfinity;
        double best = double.PositiveInfinity;
        foreach (bool home in (ReadOnlySpan<bool>)[true, false])
        {
            foreach (int index in pool)
            {
                SimReplica replica = fleet.Replicas[index];
                if ((replica.Region == request.User) != home)
                {
                    continue;
                }

                double ttft = Forecast(request, replica, forwardMs(replica), returnMs(replica), home ? bestHome : best);
                if (home)
                {
                    bestHome = Math.Min(bestHome, ttft);
                }

                best = Math.Min(best, ttft);
            }
        }

        request.BestForecastTtftMs = double.IsFinite(best) ? best : null;
        request.BestHomeForecastTtftMs = double.IsFinite(bestHome) ? bestHome : null;
    }
}
