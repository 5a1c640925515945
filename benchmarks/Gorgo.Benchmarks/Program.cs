using BenchmarkDotNet.Running;
using Gorgo.Benchmarks;

if (args.Length > 0 && args[0] == "replica-load")
{
    return await ReplicaLoad.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

/// <summary>Entry point: BenchmarkDotNet arguments (such as <c>--filter</c>), or <c>replica-load</c> for the emulated replica load test.</summary>
public partial class Program;
