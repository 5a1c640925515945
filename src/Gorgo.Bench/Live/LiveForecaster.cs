using Gorgo.Engine.Model;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Gorgo.Scenarios.Workload;

namespace Gorgo.Bench.Live;

/// <summary>
/// The live harness's outcome forecasts: as a request leaves its client, forecasts from the true state of every
/// in-process engine it could be sent to (the engine's own forecast: a copy of its scheduler run forward) the TTFT it
/// would get there, with the emulated legs there and back, as the simulator does when the request reaches its
/// ingress. The best over every usable replica and over those in the client's region become the request's
/// <c>best_forecast_ttft_ms</c> and <c>best_home_forecast_ttft_ms</c>, from which <c>regret_ms</c> and
/// <c>harmful_forward</c> follow. Unlike the simulator's, these forecasts cannot count requests already on their way
/// to an engine (the engine does not know them yet), so they are optimistic when several leave at once.
/// </summary>
public sealed class LiveForecaster(IReadOnlyList<ForecastEngine> engines, RttMatrix rtt)
{
    private readonly PromptEncoder _encoder = PromptEncoder.CreateDefault();

    /// <summary>Whether there is anything to forecast with (engines in this process).</summary>
    public bool Enabled => engines.Count > 0;

    /// <summary>The engine's view of a request's prompt, built from its body as a front door builds it; null when forecasts are off.</summary>
    public EngineRequest? Probe(BenchRequest request, byte[] body)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Enabled)
        {
            return null;
        }

        OpenAiRequest parsed = OpenAiRequestParser.Parse(body, OpenAiEndpoint.Completions);
        PreparedPrompt prompt = PreparedPrompt.From(parsed, _encoder, engines[0].Engine.Profile.MaxContextTokens, request.OutputTokens);

        // A negative id: never one of the engine's own.
        return new EngineRequest(-1 - request.Index, prompt.Blocks, prompt.MaxTokens);
    }

    /// <summary>The best forecast TTFT (ms, from now) of <paramref name="probe"/> over every usable replica, and over those in <paramref name="userRegion"/>; null where none can serve it.</summary>
    public (double? Best, double? BestHome) Forecast(string userRegion, EngineRequest probe)
    {
        double best = double.PositiveInfinity;
        double bestHome = double.PositiveInfinity;
        foreach (bool home in (ReadOnlySpan<bool>)[true, false])
        {
            foreach (ForecastEngine e in engines)
            {
                if ((e.Region == userRegion) != home || !e.Usable(userRegion))
                {
                    continue;
                }

                (double there, double back) = Legs(userRegion, e);
                double bound = home ? bestHome : best;
                double first = e.Engine.ForecastFirstTokenInMs(probe, there, double.IsFinite(bound) ? bound - back : 3_600_000);
                double ttft = first + back;
                if (home)
                {
                    bestHome = Math.Min(bestHome, ttft);
                }

                best = Math.Min(best, ttft);
            }
        }

        return (double.IsFinite(best) ? best : null, double.IsFinite(bestHome) ? bestHome : null);
    }

    /// <summary>The emulated time from the client to the engine and from it back to the client: through the proxy's region when there is one.</summary>
    private (double There, double Back) Legs(string user, ForecastEngine engine) => engine.Via is { } via
        ? (OneWay(user, via, true) + OneWay(via, engine.Region, engine.SameRegionFree), OneWay(engine.Region, via, engine.SameRegionFree) + OneWay(via, user, true))
        : (OneWay(user, engine.Region, engine.SameRegionFree), OneWay(engine.Region, user, engine.SameRegionFree));

    private double OneWay(string from, string to, bool sameRegionFree) => from == to && sameRegionFree ? 0 : rtt.Get(from, to) / 2;
}
