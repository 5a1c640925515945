using Gorgo.Scenarios;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.KvEvents;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Hosting;
using Gorgo.Mesh.Options;
using Gorgo.Proxy;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Policies;
using Gorgo.Routing.Cost;
using Gorgo.Serving;
using Gorgo.Serving.Gateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Live;

/// <summary>A deployment started for one live run: where each region's users send their requests, and how to stop it.</summary>
public sealed class LiveDeployment : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _parts = [];

    private MeshDeployment? _mesh;

    private readonly Dictionary<string, IReadOnlyList<EntryPoint>> _entryPoints;
    private readonly List<GatewayForwarder> _gateways = [];

    private LiveDeployment(IReadOnlyDictionary<string, IReadOnlyList<EntryPoint>> entryPoints) => _entryPoints = new(entryPoints, StringComparer.Ordinal);

    /// <summary>Where users of each region send requests, in the order they try them: their region's node then the nearest others, their region's gateway, or the proxy.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<EntryPoint>> EntryPoints => _entryPoints;

    /// <summary>
    /// The deployment's engines that run in this process, with where requests reach them from (for the outcome
    /// forecasts of <see cref="LiveForecaster"/>); empty when they run elsewhere (a mesh of node processes).
    /// </summary>
    public IReadOnlyList<ForecastEngine> Engines { get; private init; } = [];

    /// <summary>The node processes of a mesh started by <see cref="StartMeshProcessesAsync"/>; null otherwise.</summary>
    public NodeProcesses? Processes { get; private init; }

    /// <summary>Gossip bytes every mesh node has sent so far, and the number of nodes; null for a proxy run.</summary>
    public (long Bytes, int Nodes)? GossipBytesSent =>
        _mesh is { } mesh ? (mesh.Nodes.Sum(n => mesh.State(n.Region).Stats.GossipBytesSent), mesh.Nodes.Count) : null;

    /// <summary>
    /// Starts a mesh for <paramref name="run"/>: a node per region with in-process emulated replicas (or, for a run whose
    /// <c>cacheView</c> is <c>exact</c> or <c>decisions</c>, emulated replica servers reached over HTTP, with their KV
    /// events over ZeroMQ for <c>exact</c>), WAN emulation on, and waits until gossip has converged.
    /// </summary>
    public static async Task<LiveDeployment> StartMeshAsync(Scenario scenario, RunSpec run, RttMatrix rtt, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(run);
        MeshOptions options = MeshOptionsFor(scenario, run, rtt);
        List<(string Id, string Region, WebApplication Server)> servers = run.CacheView is CacheViewMode.Exact or CacheViewMode.Decisions
            ? await StartReplicaServersAsync(scenario, run, options, logging, cancellationToken).ConfigureAwait(false)
            : [];
        MeshDeployment mesh;
        try
        {
            mesh = await MeshDeployment.StartAsync(options, logging, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await StopAsync(servers.Select(s => s.Server)).ConfigureAwait(false);
            throw;
        }

        bool Usable(string region, string user) => user == region || mesh.State(user).Node.Interested(region);
        var deployment = new LiveDeployment(scenario.UsesGateways(run) ? [] : MeshEntries(options, rtt))
        {
            Engines = servers.Count > 0
                ? servers.Select(s => new ForecastEngine(s.Id, s.Region, s.Server.Services.GetRequiredService<EmulatedReplica>().Engine, user => Usable(s.Region, user), SameRegionFree: true)).ToArray()
                : options.Regions.Keys.SelectMany(region => mesh.State(region).Local.Values
                        .Where(r => r.Engine is not null)
                        .Select(r => new ForecastEngine(r.Id, region, r.Engine!, user => Usable(region, user), SameRegionFree: true)))
                    .ToArray(),
        };
        deployment._parts.Add(mesh);
        deployment._parts.AddRange(servers.Select(s => s.Server)); // after the mesh: nodes stop before their replicas
        deployment._mesh = mesh;
        if (!await mesh.WaitUntilConvergedAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false))
        {
            await deployment.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException("The mesh's gossip did not converge within 60 s.");
        }

        await deployment.StartGatewaysIfAskedAsync(scenario, run, options, rtt, logging, cancellationToken).ConfigureAwait(false);
        return deployment;
    }

    /// <summary>
    /// Starts a mesh for <paramref name="run"/> with each region's node in its own <c>gorgo node</c> process and fault
    /// injection on (what a scenario with faults needs), and waits until gossip has converged.
    /// </summary>
    public static async Task<LiveDeployment> StartMeshProcessesAsync(Scenario scenario, RunSpec run, RttMatrix rtt, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        MeshOptions options = MeshOptionsFor(scenario, run, rtt);
        options.FaultInjection = true;
        NodeProcesses nodes = await NodeProcesses.StartAsync(options, TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        var deployment = new LiveDeployment(scenario.UsesGateways(run) ? [] : MeshEntries(options, rtt)) { Processes = nodes };
        deployment._parts.Add(nodes);
        if (!await nodes.WaitUntilConvergedAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false))
        {
            await deployment.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"The mesh's gossip did not converge within 60 s (node logs in {nodes.Directory}).");
        }

        await deployment.StartGatewaysIfAskedAsync(scenario, run, options, rtt, logging, cancellationToken).ConfigureAwait(false);
        return deployment;
    }

    /// <summary>
    /// With gateways (<c>runs[].gateways</c>, else <c>mesh.gateways</c>), starts a gateway per region in this process (apart from the nodes, so it outlives a
    /// killed node) whose nodes are its region's then the others nearest first, and sends each region's users to it.
    /// </summary>
    private async Task StartGatewaysIfAskedAsync(Scenario scenario, RunSpec run, MeshOptions options, RttMatrix rtt, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        if (!scenario.UsesGateways(run))
        {
            return;
        }

        try
        {
            foreach ((string region, IReadOnlyList<EntryPoint> nodes) in MeshEntries(options, rtt))
            {
                var gatewayOptions = new GatewayOptions
                {
                    Region = region,
                    ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
                    Upstreams = nodes.Select(n => n.Uri).ToArray(),
                    RequestTimeoutSeconds = scenario.Limits.RequestTimeoutSeconds,
                };
                WebApplication gateway = GatewayHost.Build(gatewayOptions, logging);
                _parts.Insert(0, gateway); // stopped before the nodes
                await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
                _entryPoints[region] = [new EntryPoint(region, new Uri(gatewayOptions.ListenUrl + "/"))];
                _gateways.Add(gateway.Services.GetRequiredService<GatewayForwarder>());
            }
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Times the gateways moved a request on to their next node, summed over regions; null without gateways.</summary>
    public long? GatewayFailedOver => _gateways.Count == 0 ? null : _gateways.Sum(g => g.Stats.FailedOver);

    /// <summary>The mesh configuration of a run: a node per region on free loopback ports, the scenario's replicas emulated in process, WAN emulation on.</summary>
    public static MeshOptions MeshOptionsFor(Scenario scenario, RunSpec run, RttMatrix rtt)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(run);
        string profilePath = scenario.ProfilePath(scenario.Replicas.Profile);
        string? truePath = scenario.TrueProfileName(run) is { } truth ? scenario.ProfilePath(truth) : null;
        return new MeshOptions
        {
            Regions = scenario.Regions.ToDictionary(r => r, _ => new RegionEndpointOptions { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free() }),
            Rtt = Nested(rtt),
            // Unbounded replica queues and admission, as the simulator models them: the scenario's load decides.
            Replicas = scenario.Regions.SelectMany(region => scenario.ReplicaIds(region).Select(id => new ReplicaOptions { Id = id, Region = region, Model = scenario.Replicas.Model, Kind = ReplicaKind.Emulated, Profile = profilePath, TrueProfile = truePath, MaxQueuedRequests = 0 })).ToList(),
            Clustering = new ClusteringOptions { ClusterId = "bench-" + Guid.NewGuid().ToString("N")[..8], PrimaryRegion = scenario.Regions[0] },
            Consistency = run.EffectiveConsistency ?? ConsistencyMode.Gossip,
            Scope = run.Scope,
            RebindOnArrival = run.RebindOnArrival ?? true,
            RelayFactor = run.RelayFactor ?? RegionNodeOptions.DefaultRelayFactor,
            Gossip = run.EffectiveGossip(scenario.Mesh.Gossip),
            Probes = scenario.Mesh.Probes,
            LoadReportIntervalMs = scenario.Mesh.LoadReportIntervalMs,
            NearestRegions = scenario.Mesh.NearestRegions,
            CountPeerPendingWork = scenario.Mesh.CountPeerPendingWork,
            WanEmulation = true,
            Admission = new AdmissionOptions { MaxConcurrentRequests = 100_000, MaxQueuedRequests = 0 },
            Policy = new PolicyOptions { Name = run.Policy, Seed = scenario.Seed },
            Cost = run.CostOptions(),
        };
    }

    /// <summary>
    /// Starts an emulated replica server (what <c>gorgo replica</c> runs) per replica of <paramref name="options"/>,
    /// publishing its KV events when the run's view is <c>exact</c>, and points the replicas' options at them over HTTP.
    /// </summary>
    private static async Task<List<(string Id, string Region, WebApplication Server)>> StartReplicaServersAsync(Scenario scenario, RunSpec run, MeshOptions options, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        EngineProfile profile = scenario.LoadProfile();
        EngineProfile truth = scenario.LoadTrueProfile(run) ?? profile;
        bool events = run.CacheView == CacheViewMode.Exact;
        var servers = new List<(string Id, string Region, WebApplication Server)>();
        try
        {
            for (int i = 0; i < options.Replicas.Count; i++)
            {
                ReplicaOptions replica = options.Replicas[i];
                WebApplication server = ReplicaServer.Build(
                    new ReplicaServerOptions
                    {
                        Port = LoopbackPorts.Free(),
                        Model = replica.Model,
                        KvEventsEndpoint = events ? "tcp://127.0.0.1:*" : null,
                        KvEventsReplayEndpoint = events ? "tcp://127.0.0.1:*" : null,
                    },
                    logging,
                    truth);
                servers.Add((replica.Id, replica.Region, server));
                await server.StartAsync(cancellationToken).ConfigureAwait(false);
                KvEventPublisher? publisher = server.Services.GetRequiredService<EmulatedReplica>().KvEvents?.Publisher;
                options.Replicas[i] = new ReplicaOptions
                {
                    Id = replica.Id,
                    Region = replica.Region,
                    Model = replica.Model,
                    Kind = ReplicaKind.Http,
                    Url = server.Urls.Single(),
                    PrefillMsPerToken = profile.PrefillMsPerToken,
                    MaxRunningRequests = profile.MaxRunningRequests,
                    MaxContextTokens = profile.MaxContextTokens,
                    MaxQueuedRequests = replica.MaxQueuedRequests,
                    KvEvents = publisher is null ? null : new KvEventsOptions { Endpoint = publisher.Endpoint, ReplayEndpoint = publisher.ReplayEndpoint },
                };
            }

            return servers;
        }
        catch
        {
            await StopAsync(servers.Select(s => s.Server)).ConfigureAwait(false);
            throw;
        }
    }

    private static async Task StopAsync(IEnumerable<WebApplication> servers)
    {
        foreach (WebApplication server in servers)
        {
            await server.StopAsync().ConfigureAwait(false);
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Each region's users try their own node first, then the others nearest first (as a DNS or load-balancer failover would).</summary>
    private static Dictionary<string, IReadOnlyList<EntryPoint>> MeshEntries(MeshOptions options, RttMatrix rtt) =>
        options.Regions.Keys.ToDictionary(
            user => user,
            IReadOnlyList<EntryPoint> (user) => options.Regions.Keys.OrderBy(r => r == user ? -1 : rtt.Get(user, r))
                .Select(r => new EntryPoint(r, new Uri(options.Regions[r].IngressUrl + "/")))
                .ToArray());

    /// <summary>Starts a proxy run: an emulated replica server per replica standing in for its region, and the proxy in its region with WAN emulation on; waits until every replica has been probed.</summary>
    public static async Task<LiveDeployment> StartProxyAsync(Scenario scenario, RunSpec run, RttMatrix rtt, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        EngineProfile profile = scenario.LoadProfile();
        EngineProfile truth = scenario.LoadTrueProfile(run) ?? profile;
        string proxyRegion = run.ProxyRegion ?? scenario.Proxy.Region ?? scenario.Regions[0];
        var parts = new List<IAsyncDisposable>();
        var replicas = new List<ProxyReplicaOptions>();
        var engines = new List<ForecastEngine>();
        try
        {
            foreach (string region in scenario.Regions)
            {
                foreach (string id in scenario.ReplicaIds(region))
                {
                    WebApplication server = ReplicaServer.Build(new ReplicaServerOptions { Port = LoopbackPorts.Free(), Model = scenario.Replicas.Model }, logging, truth);
                    parts.Add(server);
                    await server.StartAsync(cancellationToken).ConfigureAwait(false);
                    replicas.Add(new ProxyReplicaOptions { Id = id, Region = region, Model = scenario.Replicas.Model, Url = server.Urls.Single(), PrefillMsPerToken = profile.PrefillMsPerToken, MaxContextTokens = profile.MaxContextTokens });
                    engines.Add(new ForecastEngine(id, region, server.Services.GetRequiredService<EmulatedReplica>().Engine, _ => true, SameRegionFree: false) { Via = proxyRegion });
                }
            }

            var options = new ProxyOptions
            {
                Region = proxyRegion,
                ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
                Rtt = Nested(rtt),
                Replicas = replicas,
                Dispatch = run.EffectiveProxyDispatch(scenario.Proxy.Dispatch),
                HealthIntervalMs = scenario.Proxy.HealthIntervalMs,
                WanEmulation = true,
                Admission = new AdmissionOptions { MaxConcurrentRequests = 100_000, MaxQueuedRequests = 0 },
                Policy = new PolicyOptions { Name = run.Policy, Seed = scenario.Seed },
            };
            WebApplication proxy = ProxyHost.Build(options, logging);
            parts.Add(proxy);
            await proxy.StartAsync(cancellationToken).ConfigureAwait(false);
            ProxyState state = proxy.Services.GetRequiredService<ProxyState>();
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while (state.Replicas.Values.Any(r => r.Monitor.ProbeRttMs is null) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            EntryPoint[] proxyEntry = [new EntryPoint(proxyRegion, new Uri(options.ListenUrl + "/"))];
            var deployment = new LiveDeployment(scenario.Regions.ToDictionary(r => r, IReadOnlyList<EntryPoint> (_) => proxyEntry)) { Engines = engines };
            parts.Reverse();
            deployment._parts.AddRange(parts);
            return deployment;
        }
        catch
        {
            parts.Reverse();
            foreach (IAsyncDisposable part in parts)
            {
                await part.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable part in _parts)
        {
            if (part is WebApplication app)
            {
                await app.StopAsync().ConfigureAwait(false);
            }

            await part.DisposeAsync().ConfigureAwait(false);
        }

        _parts.Clear();
    }

    private static Dictionary<string, Dictionary<string, double>> Nested(RttMatrix rtt) =>
        rtt.Regions.ToDictionary(a => a, a => rtt.Regions.ToDictionary(b => b, b => rtt.Get(a, b)));

}

/// <summary>A node (or the proxy) a client can send its requests to, and its region.</summary>
public sealed record EntryPoint(string Region, Uri Uri);

/// <summary>An in-process engine of a live deployment, as the outcome forecasts see it.</summary>
/// <param name="Id">The replica.</param>
/// <param name="Region">Its region.</param>
/// <param name="Engine">Its engine.</param>
/// <param name="Usable">Whether a request from users of a region may be sent to it (the mesh node's regions of interest).</param>
/// <param name="SameRegionFree">Whether a hop within a region costs nothing (the mesh's in-process calls) or half the region's own RTT (the proxy's HTTP calls).</param>
public sealed record ForecastEngine(string Id, string Region, EngineHost Engine, Func<string, bool> Usable, bool SameRegionFree)
{
    /// <summary>The region every request passes through first (the proxy's), or null when users reach their own region's node.</summary>
    public string? Via { get; init; }
}
