namespace Gorgo.Scenarios.Workload;

/// <summary>One request of a trace as recorded: arrival, lengths and (Mooncake) the ids of its 512-token prefix blocks.</summary>
/// <param name="ArrivalMs">Arrival, ms from the trace's start.</param>
/// <param name="InputTokens">Prompt length.</param>
/// <param name="OutputTokens">Output length.</param>
/// <param name="BlockIds">Mooncake <c>hash_ids</c> (null for traces without prefix information).</param>
public sealed record TraceRequest(double ArrivalMs, int InputTokens, int OutputTokens, ulong[]? BlockIds);

/// <summary>One request of a benchmark: when it is sent, from which region, its prompt and how many tokens it asks for.</summary>
/// <param name="Index">Position in the workload.</param>
/// <param name="ArrivalMs">Send time, ms from the run's start.</param>
/// <param name="UserRegion">The client's region.</param>
/// <param name="Prompt">Prompt token ids.</param>
/// <param name="OutputTokens">max_tokens.</param>
public sealed record BenchRequest(int Index, double ArrivalMs, string UserRegion, int[] Prompt, int OutputTokens);

/// <summary>One request of a workload before its prompt is materialised: enough to build its tokens (live) or its block hashes (simulated).</summary>
/// <param name="Index">Position in the workload.</param>
/// <param name="ArrivalMs">Send time, ms from the run's start.</param>
/// <param name="UserRegion">The client's region.</param>
/// <param name="InputTokens">Prompt length after caps.</param>
/// <param name="OutputTokens">max_tokens after caps.</param>
/// <param name="BlockIds">Mooncake block ids, shifted for rate-multiplier copies; null for length-only traces.</param>
public sealed record RequestShape(int Index, double ArrivalMs, string UserRegion, int InputTokens, int OutputTokens, ulong[]? BlockIds);
