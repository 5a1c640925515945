using System.Diagnostics;
using System.Text;

namespace Gorgo.Cli.Tests;

/// <summary>A <c>gorgo node</c> in its own process (so that it can be killed or signalled), with its output kept for failure messages.</summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly StringBuilder _output = new();

    private NodeProcess(Process process, Uri ingress)
    {
        Process = process;
        Ingress = ingress;
    }

    public Process Process { get; }

    public Uri Ingress { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// A localhost-clustered mesh configuration for node processes: <paramref name="regions"/> on free loopback ports
    /// (the first is the primary), the given RTTs and replicas, 100 ms gossip, a fresh cluster id.
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject MeshConfig(string[] regions, string rtt, string replicas, string clusterPrefix) => new()
    {
        ["Regions"] = new System.Text.Json.Nodes.JsonObject(regions.Select(r => KeyValuePair.Create<string, System.Text.Json.Nodes.JsonNode?>(r, new System.Text.Json.Nodes.JsonObject
        {
            ["IngressUrl"] = $"http://127.0.0.1:{Gorgo.Replica.Hosting.LoopbackPorts.Free()}",
            ["SiloPort"] = Gorgo.Replica.Hosting.LoopbackPorts.Free(),
            ["GatewayPort"] = Gorgo.Replica.Hosting.LoopbackPorts.Free(),
        }))),
        ["Rtt"] = System.Text.Json.Nodes.JsonNode.Parse(rtt),
        ["Replicas"] = System.Text.Json.Nodes.JsonNode.Parse(replicas),
        ["Clustering"] = new System.Text.Json.Nodes.JsonObject { ["PrimaryRegion"] = regions[0], ["ClusterId"] = clusterPrefix + "-" + Guid.NewGuid().ToString("N")[..8] },
        ["Gossip"] = new System.Text.Json.Nodes.JsonObject { ["IntervalMs"] = 100 },
    };

    /// <summary>The ingress of <paramref name="region"/> in a configuration made by <see cref="MeshConfig"/>.</summary>
    public static Uri IngressOf(System.Text.Json.Nodes.JsonObject config, string region) => new(config["Regions"]![region]!["IngressUrl"]!.GetValue<string>() + "/");

    /// <summary>Starts the node of <paramref name="region"/> and waits until its <c>/health</c> answers 200.</summary>
    public static Task<NodeProcess> StartAsync(string config, string region, Uri ingress, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null, params string[] arguments) =>
        LaunchAsync(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "gorgo.dll"), "node", "--region", region, "--config", config, .. arguments]), region, ingress, timeout, environment);

    /// <summary>Starts the node of <paramref name="region"/> inside network namespace <paramref name="netns"/> (<c>ip netns exec</c>, which execs the node: the process is the node) and waits until <paramref name="ingress"/> answers <c>/health</c>.</summary>
    public static Task<NodeProcess> StartInNamespaceAsync(string netns, string config, string region, Uri ingress, TimeSpan timeout) =>
        LaunchAsync(new ProcessStartInfo("ip", ["netns", "exec", netns, "dotnet", Path.Combine(AppContext.BaseDirectory, "gorgo.dll"), "node", "--region", region, "--config", config]), region, ingress, timeout, null);

    private static async Task<NodeProcess> LaunchAsync(ProcessStartInfo info, string region, Uri ingress, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var node = new NodeProcess(Process.Start(info)!, ingress);
        node.Process.OutputDataReceived += (_, e) => node.Append(e.Data);
        node.Process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        node.Process.BeginOutputReadLine();
        node.Process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = ingress, Timeout = TimeSpan.FromSeconds(5) };
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using HttpResponseMessage health = await http.GetAsync("health");
                if (health.IsSuccessStatusCode)
                {
                    return node;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            Assert.True(DateTime.UtcNow < deadline && !node.Process.HasExited, $"the node of {region} did not become healthy:\n{node.Output}");
            await Task.Delay(200);
        }
    }

    /// <summary>Sends SIGTERM (a graceful stop).</summary>
    public async Task TerminateAsync()
    {
        using Process kill = Process.Start("kill", ["-TERM", Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit(10_000);
        }

        Process.Dispose();
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
