using System.CommandLine;

namespace Gorgo.Cli.Tests;

/// <summary>Runs the gorgo command in process and captures its output.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = GorgoCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The repository root (where Gorgo.Mesh.sln is).</summary>
    public static string RepoRoot { get; } = FindRoot();

    public static string Sample(params string[] parts) => Path.Combine([RepoRoot, "samples", .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gorgo.Mesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Cannot find the repository root (Gorgo.Mesh.sln) above " + AppContext.BaseDirectory);
    }
}
