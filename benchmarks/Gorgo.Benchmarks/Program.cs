using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

/// <summary>Entry point of the benchmark suite; pass BenchmarkDotNet arguments such as <c>--filter</c>.</summary>
public partial class Program;
