using Gorgo.Mesh.Core;
using System.Net;
using System.Net.Sockets;
using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Hosting;
using Gorgo.Mesh.Options;
using Gorgo.Replica.Hosting;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.Tests;

/// <summary>
/// A three-region mesh in this process on free loopback ports, shared by a test class: us-east (gossip), eu-central
/// (sync) and ap-northeast (local-only), two fast emulated replicas each plus one replica of a model only
/// ap-northeast serves, WAN emulation on with the AWS backbone RTTs.
/// </summary>
public class MeshFixture : IAsyncLifetime
{
    public const string Model = "test-model";
    public const string RemoteOnlyModel = "apn-only-model";

    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-mesh-tests").FullName;

    public MeshDeployment Mesh { get; private set; } = null!;

    public MeshOptions Options { get; private set; } = null!;

    public Uri Ingress(string region) => new(Options.Regions[region].IngressUrl + "/");

    public async Task InitializeAsync()
    {
        string profile = Path.Combine(_directory, "fast.json");
        await File.WriteAllTextAsync(profile, System.Text.Json.JsonSerializer.Serialize(TestProfiles.Fast("fast-test", maxRunningRequests: 2), EngineProfile.JsonOptions));

        RegionEndpointOptions Endpoint(ConsistencyMode? consistency) => new() { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free(), Consistency = consistency };
        ReplicaOptions Replica(string id, string region, string model = Model) => new() { Id = id, Region = region, Model = model, Kind = ReplicaKind.Emulated, Profile = profile };
        Options = new MeshOptions
        {
            Regions = new()
            {
                ["us-east"] = Endpoint(null),
                ["eu-central"] = Endpoint(ConsistencyMode.Sync),
                ["ap-northeast"] = Endpoint(ConsistencyMode.LocalOnly),
            },
            Rtt = new()
            {
                ["us-east"] = new() { ["us-east"] = 5.3, ["eu-central"] = 92.8, ["ap-northeast"] = 178.6 },
                ["eu-central"] = new() { ["eu-central"] = 4.0, ["ap-northeast"] = 231.5 },
                ["ap-northeast"] = new() { ["ap-northeast"] = 3.8 },
            },
            Replicas =
            [
                Replica("use-1", "us-east"), Replica("use-2", "us-east"),
                Replica("euc-1", "eu-central"), Replica("euc-2", "eu-central"),
                Replica("apn-1", "ap-northeast"), Replica("apn-2", "ap-northeast"),
                Replica("apn-special", "ap-northeast", RemoteOnlyModel),
            ],
            Clustering = new ClusteringOptions { PrimaryRegion = "us-east", ClusterId = "test-" + Guid.NewGuid().ToString("N")[..8] },
            Consistency = ConsistencyMode.Gossip,
            Gossip = new GossipOptions { IntervalMs = 100, Fanout = 2, OriginTimeoutMs = 2_000 },
            Probes = new ProbeOptions { IntervalMs = 250 },
            WanEmulation = true,
            LoadReportIntervalMs = 50,
            DefaultMaxTokens = 8,
        };

        Customize(Options);
        Mesh = await MeshDeployment.StartAsync(Options, Logging);
        Assert.True(await Mesh.WaitUntilConvergedAsync(TimeSpan.FromSeconds(30)), "gossip did not converge at start");
    }

    /// <summary>Changes the options before the mesh starts (fixtures for one test class).</summary>
    protected virtual void Customize(MeshOptions options)
    {
    }

    public static void Logging(ILoggingBuilder logging) => logging.ClearProviders().SetMinimumLevel(LogLevel.Warning);

    public async Task DisposeAsync()
    {
        if (Mesh is not null)
        {
            await Mesh.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>
/// Test classes that run alone, after the others: each starts its own mesh (and, for KV events, replica servers and
/// ZeroMQ threads), which would slow the timing-sensitive mesh tests beside it on a two-core machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "isolated";
}
