using System.Xml.Linq;

namespace Gorgo.Simulator.Tests;

/// <summary>The project graph keeps the pure projects pure: the simulator and what it builds on reach no Orleans, ASP.NET Core or Azure code.</summary>
public class ProjectGraphTests
{
    private static readonly string[] Pure = ["Gorgo.Routing", "Gorgo.Engine", "Gorgo.Mesh.Core", "Gorgo.Proxy.Core", "Gorgo.Scenarios", "Gorgo.Simulator"];

    private static readonly string[] Forbidden = ["Microsoft.Orleans", "Orleans", "Microsoft.AspNetCore", "Azure", "Microsoft.Extensions.Hosting"];

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void A_pure_project_reaches_no_orleans_aspnet_or_azure_package_through_any_project_it_references(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var references = new List<string>();
        Walk(Path.Combine(Paths.RepoRoot, "src", project, project + ".csproj"), seen, references);

        Assert.DoesNotContain(references, r => Forbidden.Any(f => r.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
        Assert.All(seen, p => Assert.Contains(Path.GetFileNameWithoutExtension(p), Pure)); // only pure projects below a pure one
    }

    [Fact]
    public void The_simulators_assemblies_load_no_orleans_aspnet_or_azure_assembly()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<System.Reflection.Assembly>([typeof(Simulation).Assembly]);
        while (queue.TryDequeue(out System.Reflection.Assembly? assembly))
        {
            foreach (System.Reflection.AssemblyName name in assembly.GetReferencedAssemblies())
            {
                if (seen.Add(name.Name!) && !name.Name!.StartsWith("System", StringComparison.Ordinal) && name.Name != "netstandard" && name.Name != "mscorlib")
                {
                    queue.Enqueue(System.Reflection.Assembly.Load(name));
                }
            }
        }

        Assert.DoesNotContain(seen, n => Forbidden.Any(f => n.StartsWith(f, StringComparison.OrdinalIgnoreCase)));
        Assert.Contains("Gorgo.Mesh.Core", seen);
        Assert.Contains("Gorgo.Proxy.Core", seen);
    }

    [Fact]
    public void The_readmes_show_the_project_graph_the_project_files_have()
    {
        string readme = File.ReadAllText(Path.Combine(Paths.RepoRoot, "README.md"));
        string block = GraphBlock(readme);
        var drawn = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var pureDrawn = new List<string>();
        bool pureBand = false;
        foreach (string line in block.Split('\n'))
        {
            pureBand |= line.TrimStart().StartsWith("pure:", StringComparison.Ordinal);
            System.Text.RegularExpressions.Match m = System.Text.RegularExpressions.Regex.Match(line, @"^\s+(Gorgo\.[\w.]+)\s.*→\s*(.+)$");
            if (!m.Success)
            {
                continue;
            }

            string project = m.Groups[1].Value;
            drawn[project] = m.Groups[2].Value.Trim() == "(none)" ? [] : m.Groups[2].Value.Split(',', StringSplitOptions.TrimEntries).Select(d => "Gorgo." + d).ToArray();
            if (pureBand)
            {
                pureDrawn.Add(project);
            }
        }

        string[] projects = Directory.GetDirectories(Path.Combine(Paths.RepoRoot, "src")).Select(Path.GetFileName).OfType<string>().Where(d => File.Exists(Path.Combine(Paths.RepoRoot, "src", d, d + ".csproj"))).Order().ToArray();
        Assert.Equal(projects, drawn.Keys.Order());
        foreach (string project in projects)
        {
            string[] actual = XDocument.Load(Path.Combine(Paths.RepoRoot, "src", project, project + ".csproj")).Descendants("ProjectReference")
                .Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value.Replace('\\', '/'))).Order().ToArray();
            Assert.True(actual.SequenceEqual(drawn[project].Order()), $"{project}: the graph says {string.Join(", ", drawn[project])}; the project file references {string.Join(", ", actual)}.");
        }

        Assert.Equal(Pure.Order(), pureDrawn.Order());
        foreach (string project in projects.Where(p => File.Exists(Path.Combine(Paths.RepoRoot, "src", p, "README.md"))))
        {
            Assert.True(GraphBlock(File.ReadAllText(Path.Combine(Paths.RepoRoot, "src", project, "README.md"))) == block, $"src/{project}/README.md shows another project graph than README.md.");
        }
    }

    public static TheoryData<string> PureProjects() => new(Pure);

    private static string GraphBlock(string markdown)
    {
        int start = markdown.IndexOf("<!-- project-graph", StringComparison.Ordinal);
        int end = markdown.IndexOf("<!-- /project-graph -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "No project graph block.");
        return markdown[start..end].Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static void Walk(string csproj, HashSet<string> seen, List<string> references)
    {
        if (!seen.Add(Path.GetFullPath(csproj)))
        {
            return;
        }

        XDocument project = XDocument.Load(csproj);
        foreach (XElement item in project.Descendants())
        {
            string? include = item.Attribute("Include")?.Value;
            switch (item.Name.LocalName)
            {
                case "PackageReference" or "FrameworkReference" when include is not null:
                    references.Add(include);
                    break;
                case "ProjectReference" when include is not null:
                    Walk(Path.Combine(Path.GetDirectoryName(csproj)!, include.Replace('\\', Path.DirectorySeparatorChar)), seen, references);
                    break;
            }
        }
    }
}
