using System.Net;
using Azure.Data.Tables;
using Gorgo.Replica.OpenAi;
using Gorgo.Replica.Server;
using Gorgo.Mesh.Faults;
using Gorgo.Mesh.Gossip;
using Gorgo.Mesh.Ingress;
using Gorgo.Mesh.Options;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wan;
using Gorgo.Routing.Tokens;
using Gorgo.Serving;
using Gorgo.Serving.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Gorgo.Mesh.Hosting;

/// <summary>Builds one region's node: an Orleans silo, the region's local replicas, gossip and probes, and the OpenAI ingress, in one host.</summary>
public static class MeshNode
{
    /// <summary>Builds (but does not start) the node of <paramref name="region"/>; throws <see cref="Routing.Options.RoutingOptionsException"/> for a bad configuration.</summary>
    public static WebApplication Build(MeshOptions options, string region, Action<ILoggingBuilder>? logging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid(region);
        RegionEndpointOptions endpoints = options.Regions[region];
        GorgoTelemetry.StartTracing($"node-{region}");

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = OpenAiRequestParser.MaxBodyBytes);
        builder.WebHost.UseUrls(endpoints.IngressUrl);
        logging?.Invoke(builder.Logging);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => new RegionState(options, region, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(new AdmissionGate(options.Admission));
        builder.Services.AddSingleton(options.BuildEncoders());
        builder.Services.AddSingleton<GossipService>();
        builder.Services.AddSingleton<NodeFaults>();
        builder.Services.AddSingleton<MeshFrontDoorBackend>();
        builder.Services.AddSingleton(sp => new FrontDoor(
            MeshFrontDoorBackend.OptionsFor(sp.GetRequiredService<RegionState>()),
            sp.GetRequiredService<MeshFrontDoorBackend>(),
            sp.GetRequiredService<AdmissionGate>(),
            sp.GetRequiredService<PromptEncoders>(),
            sp.GetRequiredService<ILogger<FrontDoor>>()));

        builder.UseOrleans(silo =>
        {
            silo.Configure<SiloOptions>(o => o.SiloName = MeshKeys.SiloName(region));
            ConfigureClustering(silo, options, region, endpoints);
            silo.AddPlacementDirector<RegionPlacement, RegionPlacementDirector>();
            silo.AddActivityPropagation(); // W3C trace context through grain calls (spans only when tracing is on)
#pragma warning disable ORLEANSEXP003 // experimental in Orleans 10, and what the mesh needs:
            // with the default directory, a silo's death deactivates every grain whose directory entry it held, so a
            // dead region broke streams served by healthy ones; the distributed directory recovers those entries.
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Detect a dead region in seconds rather than the default ~15 s.
                o.ProbeTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
            });
            if (options.WanEmulation)
            {
                silo.AddOutgoingGrainCallFilter(new WanEmulationFilter(region, options.BuildRtt()));
            }

            if (options.FaultInjection)
            {
                silo.AddOutgoingGrainCallFilter<PartitionFilter>();
            }
        });

        // Registered after the silo so that it stops before it: no gossip into a silo that is shutting down.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<GossipService>());

        // Orleans ends the process on a fatal error (a silo declared dead after a partition learns so on rejoining);
        // the node stops its host instead, and its command starts it again (registered last: the last one wins).
        builder.Services.AddSingleton<SiloEviction>();
        builder.Services.AddSingleton<IFatalErrorHandler>(sp => sp.GetRequiredService<SiloEviction>());
        builder.Services.AddSingleton<IDrainParticipant, MeshDrain>();
        builder.Services.AddFrontDoorDrain(options.Admission);

        WebApplication app = builder.Build();
        MapEndpoints(app);
        return app;
    }

    /// <summary>Maps the ingress: the OpenAI API, <c>/health</c>, <c>/mesh/state</c>, <c>/metrics</c> and the status page at <c>/</c>.</summary>
    public static void MapEndpoints(WebApplication app)
    {
        RegionState state = app.Services.GetRequiredService<RegionState>();
        AdmissionGate admission = app.Services.GetRequiredService<AdmissionGate>();
        app.MapGet("/health", () => Results.Json(
            new { status = admission.IsDraining ? "draining" : "ok", region = state.Region, knownRegions = state.Node.KnownRegions(), regions = state.RegionStatuses() },
            statusCode: admission.IsDraining ? 503 : 200));
        FrontDoor door = app.Services.GetRequiredService<FrontDoor>();
        app.MapGet("/mesh/state", () =>
        {
            System.Text.Json.Nodes.JsonObject json = FrontDoorState.Describe(state.Describe(), door, admission);
            json["kvEvents"] = System.Text.Json.JsonSerializer.SerializeToNode(state.KvFeeds.Values.Select(f => f.Describe()).ToArray(), System.Text.Json.JsonSerializerOptions.Web);
            return Results.Json(json);
        });
        app.MapOperations(new MeshNodeView(state), door, admission);
        app.MapFrontDoor(door);
        if (app.Services.GetRequiredService<MeshOptions>().FaultInjection)
        {
            NodeFaults faults = app.Services.GetRequiredService<NodeFaults>();
            app.MapPost("/admin/faults", (NodeFaultRequest fault) => faults.Apply(fault) is { } problem
                ? Results.Json(new { error = new { message = problem, type = "invalid_request_error" } }, statusCode: 400)
                : Results.Json(new { region = state.Region, partitions = faults.Partitions, failing = state.Local.Values.Where(r => r.Failing).Select(r => r.Id), slowed = state.Local.Values.Where(r => r.Engine is { Slowdown: > 1 }).Select(r => r.Id) }));
        }
    }

    private static void ConfigureClustering(ISiloBuilder silo, MeshOptions options, string region, RegionEndpointOptions endpoints)
    {
        if (options.Clustering.Mode == ClusteringMode.AzureTable)
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ServiceId = options.Clustering.ServiceId;
                o.ClusterId = options.Clustering.ClusterId;
            });
            silo.ConfigureEndpoints(IPAddress.Parse(endpoints.AdvertisedAddress), endpoints.SiloPort, endpoints.GatewayPort, listenOnAnyHostAddress: false);
            silo.UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(options.Clustering.ConnectionString));
            return;
        }

        string primary = options.Clustering.PrimaryRegion ?? options.Regions.Keys.First();
        RegionEndpointOptions seed = options.Regions[primary];
        IPEndPoint? primaryEndpoint = primary == region ? null : new IPEndPoint(IPAddress.Parse(seed.AdvertisedAddress), seed.SiloPort);
        silo.UseLocalhostClustering(endpoints.SiloPort, endpoints.GatewayPort, primaryEndpoint, options.Clustering.ServiceId, options.Clustering.ClusterId);
        // Each silo at its own advertised address (127.0.0.1 unless configured), so that nodes on different hosts, or in
        // different network namespaces, form one cluster with the primary region's silo as the seed.
        silo.ConfigureEndpoints(IPAddress.Parse(endpoints.AdvertisedAddress), endpoints.SiloPort, endpoints.GatewayPort, listenOnAnyHostAddress: false);
    }
}
