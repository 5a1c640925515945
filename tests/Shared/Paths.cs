namespace Gorgo.Testing;

internal static class Paths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Scenario(string name) => Path.Combine(RepoRoot, "benchmarks", "scenarios", name);

    /// <summary>A committed result under <c>benchmarks/results</c>.</summary>
    public static string Results(params string[] parts) => Path.Combine([RepoRoot, "benchmarks", "results", .. parts]);

    /// <summary>The repository's benchmark data (<c>benchmarks/data</c>): traces, RTT matrices, calibration inputs.</summary>
    public static string Data(params string[] parts) => Path.Combine([RepoRoot, "benchmarks", "data", .. parts]);

    /// <summary>A <c>tokenizer.json</c> the tests ship under <c>tests/Shared/tokenizers</c>.</summary>
    public static string Tokenizer(string name) => Path.Combine(RepoRoot, "tests", "Shared", "tokenizers", name, "tokenizer.json");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gorgo.Mesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root.");
    }
}
