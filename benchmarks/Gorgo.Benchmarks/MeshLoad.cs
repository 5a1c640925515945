using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Gorgo.Mesh.Hosting;
using Gorgo.Mesh.Options;
using Gorgo.Serving;
using Gorgo.Replica.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Gorgo.Benchmarks;

/// <summary>
/// <c>mesh-load overhead</c>: the latency a mesh node adds in front of a replica (the same request sent straight to a
/// <c>gorgo replica</c> server and through a one-region node whose replica is that server, interleaved).
/// <c>mesh-load rate</c>: the sustained request rate of one node with fast in-process emulated replicas.
/// </summary>
internal static class MeshLoad
{
    /// <summary>A replica so fast its own time is negligible: every step costs the minimum the engine thread can sleep.</summary>
    private static readonly EngineProfile Fast = new()
    {
        Name = "instant",
        MaxRunningRequests = 1024,
        MaxBatchedTokens = 65_536,
        PrefillChunkTokens = 65_536,
        KvCapacityBlocks = 65_536,
        MaxContextTokens = 8192,
        PrefillFixedMs = 0.01,
        PrefillMsPerToken = 0.0001,
        PrefillAttentionMsPerToken2 = 0,
        DecodeFixedMs = 0.01,
        DecodeMsPerContextToken = 0,
        DecodeMsPerSequence = 0,
    };

    public static async Task<int> RunAsync(string[] args)
    {
        string mode = args.Length > 0 ? args[0] : "overhead";
        return mode switch
        {
            "overhead" => await OverheadAsync(int.Parse(Arg(args, "--samples", "2000"), CultureInfo.InvariantCulture)),
            "rate" => await RateAsync(int.Parse(Arg(args, "--concurrency", "64"), CultureInfo.InvariantCulture), double.Parse(Arg(args, "--seconds", "10"), CultureInfo.InvariantCulture), int.Parse(Arg(args, "--replicas", "2"), CultureInfo.InvariantCulture)),
            _ => throw new ArgumentException($"Unknown mesh-load mode '{mode}': use overhead or rate."),
        };
    }

    private static async Task<int> OverheadAsync(int samples)
    {
        string profilePath = Path.Combine(Path.GetTempPath(), $"gorgo-instant-{Environment.ProcessId}.json");
        await File.WriteAllTextAsync(profilePath, System.Text.Json.JsonSerializer.Serialize(Fast, EngineProfile.JsonOptions));
        await using WebApplication replica = ReplicaServer.Build(new ReplicaServerOptions { Port = 0, Model = "m" }, l => l.ClearProviders(), profile: Fast);
        await replica.StartAsync();
        string replicaUrl = replica.Urls.Single();
        MeshOptions options = OneRegion([new ReplicaOptions { Id = "r1", Region = "local", Model = "m", Kind = ReplicaKind.Http, Url = replicaUrl, MaxContextTokens = 8192 }]);
        await using MeshDeployment mesh = await MeshDeployment.StartAsync(options, l => l.ClearProviders().SetMinimumLevel(LogLevel.Warning));
        await Task.Delay(500); // first load report

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 });
        string body = """{"model": "m", "prompt": "How far is the router from the replica?", "max_tokens": 1}""";
        var direct = new double[samples];
        var routed = new double[samples];
        for (int i = -200; i < samples; i++)
        {
            double d = await TimeAsync(http, replicaUrl, body);
            double r = await TimeAsync(http, options.Regions["local"].IngressUrl, body);
            if (i >= 0)
            {
                direct[i] = d;
                routed[i] = r;
            }
        }

        double[] extra = routed.Zip(direct, (r, d) => r - d).Order().ToArray();
        Array.Sort(direct);
        Array.Sort(routed);
        Console.WriteLine($"Router overhead: {samples} non-streamed completions (max_tokens 1) sent one at a time, alternately straight to a gorgo replica and through a one-region mesh node whose replica is that server (HTTP backend); {Environment.ProcessorCount} cores.");
        Console.WriteLine();
        Console.WriteLine("| path | P50 (ms) | P90 (ms) | P99 (ms) |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        Row("straight to the replica", direct);
        Row("through the mesh node", routed);
        Row("added by the node (paired difference)", extra);
        File.Delete(profilePath);
        return 0;

        static void Row(string name, double[] sorted) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {P(sorted, 0.50):F3} | {P(sorted, 0.90):F3} | {P(sorted, 0.99):F3} |"));
    }

    private static async Task<int> RateAsync(int concurrency, double seconds, int replicas)
    {
        string profilePath = Path.Combine(Path.GetTempPath(), $"gorgo-instant-{Environment.ProcessId}.json");
        await File.WriteAllTextAsync(profilePath, System.Text.Json.JsonSerializer.Serialize(Fast, EngineProfile.JsonOptions));
        MeshOptions options = OneRegion(Enumerable.Range(1, replicas).Select(i => new ReplicaOptions { Id = $"r{i}", Region = "local", Model = "m", Kind = ReplicaKind.Emulated, Profile = profilePath }).ToList());
        await using MeshDeployment mesh = await MeshDeployment.StartAsync(options, l => l.ClearProviders().SetMinimumLevel(LogLevel.Warning));
        await Task.Delay(500);

        string url = options.Regions["local"].IngressUrl;
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency });
        long completed = 0, failed = 0;
        async Task Worker(int id, TimeSpan duration)
        {
            var watch = Stopwatch.StartNew();
            int n = 0;
            while (watch.Elapsed < duration)
            {
                using var content = new StringContent($$"""{"model": "m", "prompt": "worker {{id}} request {{n++}}", "max_tokens": 1}""", Encoding.UTF8, "application/json");
                using HttpResponseMessage response = await http.PostAsync(url + "/v1/completions", content);
                await response.Content.ReadAsByteArrayAsync();
                Interlocked.Increment(ref response.IsSuccessStatusCode ? ref completed : ref failed);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Worker(i, TimeSpan.FromSeconds(2))));
        completed = failed = 0;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Worker(i, TimeSpan.FromSeconds(seconds))));
        double elapsed = total.Elapsed.TotalSeconds;
        Console.WriteLine($"Node throughput: {concurrency} closed-loop clients for {seconds:F0} s against one node with {replicas} instant emulated replicas, non-streamed completions (max_tokens 1); load generator in the same process; {Environment.ProcessorCount} cores.");
        Console.WriteLine();
        Console.WriteLine("| clients | completed | failed | requests/s |");
        Console.WriteLine("| ---: | ---: | ---: | ---: |");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {concurrency} | {completed} | {failed} | {completed / elapsed:F0} |"));
        File.Delete(profilePath);
        return 0;
    }

    private static MeshOptions OneRegion(List<ReplicaOptions> replicas) => new()
    {
        Regions = new() { ["local"] = new RegionEndpointOptions { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free() } },
        Rtt = new() { ["local"] = new() { ["local"] = 0.1 } },
        Replicas = replicas,
        Clustering = new ClusteringOptions { ClusterId = "bench-" + Guid.NewGuid().ToString("N")[..8] },
        LoadReportIntervalMs = 100,
        Admission = new AdmissionOptions { MaxConcurrentRequests = 4096, MaxQueuedRequests = 4096 },
    };

    private static async Task<double> TimeAsync(HttpClient http, string baseUrl, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        long start = Stopwatch.GetTimestamp();
        using HttpResponseMessage response = await http.PostAsync(baseUrl + "/v1/completions", content);
        await response.Content.ReadAsByteArrayAsync();
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return response.IsSuccessStatusCode ? ms : throw new InvalidOperationException($"{baseUrl} answered {(int)response.StatusCode}.");
    }

    private static double P(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * sorted.Length))];

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

}
