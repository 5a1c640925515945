using Gorgo.Engine.Model;

namespace Gorgo.Engine.Model;

/// <summary>Runs an <see cref="EngineCore"/> on a virtual clock: arrivals at given times, steps taking exactly their planned time.</summary>
/// <remarks>Deterministic: equal inputs (and jitter seed) give equal outputs, and it runs as fast as the CPU allows.</remarks>
public static class VirtualEngineRun
{
    /// <summary>Feeds <paramref name="arrivals"/> (in time order) to <paramref name="core"/> and steps until idle; returns finished requests' timings in finishing order.</summary>
    /// <exception cref="InvalidOperationException">A request was refused.</exception>
    /// <param name="core">The engine.</param>
    /// <param name="arrivals">Requests and when they arrive.</param>
    /// <param name="tokens">Receives every token, when given (without it, a run's decode steps are applied in one pass).</param>
    /// <param name="maxStepsPerRun">Decode steps planned as one run at most (see <see cref="EngineCore.PlanStep(double, int)"/>); runs are cut when a request arrives, so the result is the same.</param>
    public static IReadOnlyList<RequestTiming> Run(EngineCore core, IEnumerable<(double AtMs, EngineRequest Request)> arrivals, List<TokenOutput>? tokens = null, int maxStepsPerRun = 1)
    {
        ArgumentNullException.ThrowIfNull(core);
        ArgumentNullException.ThrowIfNull(arrivals);
        var pending = new Queue<(double AtMs, EngineRequest Request)>(arrivals.OrderBy(a => a.AtMs));
        var finished = new List<RequestTiming>();
        double now = pending.Count > 0 ? Math.Min(0, pending.Peek().AtMs) : 0;
        while (pending.Count > 0 || core.HasWork)
        {
            SubmitDue(core, pending, now);
            double? duration = core.PlanStep(now, maxStepsPerRun);
            if (duration is null)
            {
                if (pending.Count == 0)
                {
                    break;
                }

                now = Math.Max(now, pending.Peek().AtMs);
                continue;
            }

            double end = core.PlannedEndMs;
            if (core.PlannedSteps > 1 && pending.Count > 0 && pending.Peek().AtMs < end)
            {
                end = core.CutRun(pending.Peek().AtMs, tokens);
            }

            // Requests arriving during the step join the waiting queue at their own time and are scheduled next step.
            while (pending.Count > 0 && pending.Peek().AtMs < end)
            {
                (double at, EngineRequest request) = pending.Dequeue();
                Submit(core, request, at);
            }

            core.CompleteStep(end, tokens, finished);
            now = end;
        }

        return finished;
    }

    private static void SubmitDue(EngineCore core, Queue<(double AtMs, EngineRequest Request)> pending, double now)
    {
        while (pending.Count > 0 && pending.Peek().AtMs <= now)
        {
            (double at, EngineRequest request) = pending.Dequeue();
            Submit(core, request, at);
        }
    }

    private static void Submit(EngineCore core, EngineRequest request, double at)
    {
        EngineRejection rejection = core.Submit(request, at);
        if (rejection != EngineRejection.None)
        {
            throw new InvalidOperationException($"Request {request.Id} was refused: {rejection}.");
        }
    }
}
