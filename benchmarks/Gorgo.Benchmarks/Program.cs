using BenchmarkDotNet.Running;
using Gorgo.Benchmarks;

if (args.Length > 0 && args[0] == "replica-load")
{
    return await ReplicaLoad.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "mesh-load")
{
    return await MeshLoad.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;

/// <summary>Entry point: BenchmarkDotNet arguments (such as <c>--filter</c>), <c>replica-load</c> (emulated replica under load) or <c>mesh-load</c> (router overhead and node throughput).</summary>
public partial class Program;
