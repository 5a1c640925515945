using System.Globalization;
using System.Text;
using Gorgo.Scenarios;

namespace Gorgo.Simulator.Tests;

/// <summary>Builds small scenarios in code over a Mooncake-format trace written to a temporary directory.</summary>
internal sealed class TinyScenario : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gorgo-sim").FullName;

    /// <summary>One trace line: arrival (ms), prompt tokens, output tokens and the 512-token block ids.</summary>
    public readonly record struct Line(double AtMs, int Input, int Output, params ulong[] Ids);

    /// <summary>Writes <paramref name="lines"/> as a trace and returns a scenario replaying it.</summary>
    public Scenario With(IEnumerable<Line> lines, Dictionary<string, Dictionary<string, double>> rtt, List<RunSpec> runs, int replicasPerRegion = 1, Dictionary<string, double>? users = null)
    {
        var text = new StringBuilder();
        foreach (Line l in lines)
        {
            text.Append(CultureInfo.InvariantCulture, $"{{\"timestamp\": {l.AtMs}, \"input_length\": {l.Input}, \"output_length\": {l.Output}, \"hash_ids\": [{string.Join(", ", l.Ids)}]}}\n");
        }

        File.WriteAllText(Path.Combine(_dir, "trace.jsonl"), text.ToString());
        return new Scenario
        {
            Name = "tiny",
            Regions = [.. rtt.Keys],
            Rtt = new RttSpec { Inline = rtt },
            Replicas = new ReplicaSpec { PerRegion = replicasPerRegion, Profile = "h100-8b" },
            Trace = new TraceSpec { Kind = "mooncake", File = "trace.jsonl" },
            Users = users ?? [],
            Runs = runs,
            BaseDirectory = _dir,
        };
    }

    /// <summary>Ids for a prompt of <paramref name="tokens"/> tokens: a shared head <paramref name="shared"/> then fresh ids from <paramref name="next"/>.</summary>
    public static ulong[] Ids(int tokens, ulong[] shared, ref ulong next)
    {
        int blocks = (tokens + 511) / 512;
        var ids = new ulong[blocks];
        for (int i = 0; i < blocks; i++)
        {
            ids[i] = i < shared.Length ? shared[i] : next++;
        }

        return ids;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
