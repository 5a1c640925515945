using System.ComponentModel;
using System.Text.Json.Serialization;
using Gorgo.Routing.Options;

namespace Gorgo.Scenarios;

/// <summary>How a scenario's requests are sent.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<LoadMode>))]
[TypeConverter(typeof(EnumNameTypeConverter<LoadMode>))]
public enum LoadMode
{
    /// <summary>Open loop at the trace's own arrival times (<c>trace</c>, scaled by <c>trace.timeScale</c> and <c>trace.rateMultiplier</c>).</summary>
    Trace,

    /// <summary>Open loop, Poisson arrivals at <see cref="LoadSpec.Rate"/> requests per second (<c>poisson</c>); lengths and prefix sharing from the trace, in its order.</summary>
    Poisson,

    /// <summary>Closed loop (<c>concurrency</c>): <see cref="LoadSpec.Concurrency"/> clients, each sending its next request when its last response has ended (plus <see cref="LoadSpec.ThinkMs"/>).</summary>
    Concurrency,
}

/// <summary>
/// How a scenario loads its deployment: the trace's arrival times (the default), Poisson arrivals at a rate, or a
/// number of closed-loop clients, as vLLM's serving benchmark and GuideLLM do. The trace always gives the requests'
/// lengths, prefix blocks and client regions, in its order; past its end it starts again as another population of
/// users (block ids shifted, as <c>trace.rateMultiplier</c> copies are). Sweep <c>load.rate</c> or
/// <c>load.concurrency</c> for a latency-versus-load curve.
/// </summary>
public sealed record LoadSpec
{
    /// <summary><c>trace</c> (default), <c>poisson</c> or <c>concurrency</c>.</summary>
    public LoadMode Mode { get; init; } = LoadMode.Trace;

    /// <summary>Poisson arrival rate, requests per second (<c>poisson</c> only).</summary>
    public double Rate { get; init; }

    /// <summary>Closed-loop clients (<c>concurrency</c> only).</summary>
    public int Concurrency { get; init; }

    /// <summary>A closed-loop client's pause between a response's end and its next request, ms.</summary>
    public double ThinkMs { get; init; }

    /// <summary>Requests to send (0: as many as the trace has after <c>trace.firstN</c>, unless <see cref="DurationSeconds"/> bounds them instead).</summary>
    public int Count { get; init; }

    /// <summary>No request is sent after this many seconds (0: no bound); with <see cref="Count"/> 0 it alone bounds the run.</summary>
    public double DurationSeconds { get; init; }

    /// <summary>Whether requests are sent when earlier ones end (closed loop) rather than at set times.</summary>
    [JsonIgnore]
    public bool ClosedLoop => Mode == LoadMode.Concurrency;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate(TraceSpec trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return new OptionsErrors()
            .Check(Enum.IsDefined(Mode), EnumNames<LoadMode>.Expected("load.mode", Mode.ToString()))
            .Check(Mode != LoadMode.Poisson || (double.IsFinite(Rate) && Rate > 0), $"load.rate must be a positive number of requests per second for load.mode poisson (got {Rate}).")
            .Check(Mode == LoadMode.Poisson || Rate == 0, $"load.rate is for load.mode poisson (the mode is {EnumNames<LoadMode>.Name(Mode)}).")
            .Check(Mode != LoadMode.Concurrency || Concurrency >= 1, $"load.concurrency must be at least 1 for load.mode concurrency (got {Concurrency}).")
            .Check(Mode == LoadMode.Concurrency || (Concurrency == 0 && ThinkMs == 0), $"load.concurrency and load.thinkMs are for load.mode concurrency (the mode is {EnumNames<LoadMode>.Name(Mode)}).")
            .Check(double.IsFinite(ThinkMs) && ThinkMs >= 0, $"load.thinkMs cannot be negative (got {ThinkMs}).")
            .Check(Count >= 0, $"load.count cannot be negative (got {Count}).")
            .Check(double.IsFinite(DurationSeconds) && DurationSeconds >= 0, $"load.durationSeconds cannot be negative (got {DurationSeconds}).")
            .Check(Mode != LoadMode.Trace || (Count == 0 && DurationSeconds == 0), "load.count and load.durationSeconds are for load.mode poisson and concurrency (trace mode replays trace.firstN requests).")
            .Check(Mode == LoadMode.Trace || (trace.TimeScale == 1 && trace.RateMultiplier == 1), "trace.timeScale and trace.rateMultiplier shape the trace's own arrivals; with load.mode poisson or concurrency set load.rate or load.concurrency instead.")
            .Errors;
    }
}
