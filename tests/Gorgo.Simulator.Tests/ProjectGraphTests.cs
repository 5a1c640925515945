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

    public static TheoryData<string> PureProjects() => new(Pure);

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
