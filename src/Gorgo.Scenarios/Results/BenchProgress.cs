namespace Gorgo.Scenarios.Results;

/// <summary>Progress of a benchmark or simulation: which run, how many of its requests have finished.</summary>
/// <param name="Run">Run name.</param>
/// <param name="Phase">What is happening: starting, replaying, simulating, stopping, done.</param>
/// <param name="Finished">Requests of the run finished (completed or failed).</param>
/// <param name="Total">Requests of the run.</param>
public readonly record struct BenchProgress(string Run, string Phase, int Finished, int Total);
