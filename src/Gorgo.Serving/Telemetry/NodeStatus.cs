using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gorgo.Serving.Telemetry;

/// <summary>A node's operator endpoints: <c>GET /metrics</c>, the status page at <c>GET /</c> and its data at <c>GET /status</c>.</summary>
public static class NodeStatus
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using Stream stream = typeof(NodeStatus).Assembly.GetManifestResourceStream("Gorgo.Serving.Telemetry.status.html")
            ?? throw new InvalidOperationException("The status page is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>Maps the endpoints and registers <paramref name="view"/> with the metrics until the application stops.</summary>
    public static IEndpointRouteBuilder MapOperations(this WebApplication app, INodeView view, FrontDoor door, AdmissionGate admission)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(view);
        app.MapMetrics(); // starts the pipeline first, so that the zeros Register records are seen
        IDisposable registration = GorgoMetrics.Register(view);
        app.Lifetime.ApplicationStopped.Register(registration.Dispose);
        app.MapGet("/", () => Results.Bytes(Page.Value, "text/html; charset=utf-8"));
        app.MapGet("/status", () => Results.Json(Describe(view, door, admission)));
        return app;
    }

    /// <summary>The status page's data: the node, the regions it follows, every replica as its router sees it, the last decisions and gossip totals.</summary>
    public static StatusSnapshot Describe(INodeView view, FrontDoor door, AdmissionGate admission)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(door);
        ArgumentNullException.ThrowIfNull(admission);
        IReadOnlyDictionary<string, string> breakers = door.Breakers.Describe();
        var replicas = view.Router.Replicas
            .OrderBy(r => r.Region, StringComparer.Ordinal)
            .ThenBy(r => r.Id, StringComparer.Ordinal)
            .Select(r => new ReplicaStatus(
                r.Id,
                r.Region,
                view.Router.IsSuspended(r.Id) ? "suspended" : r.Health.ToString().ToLowerInvariant(),
                r.RunningRequests,
                r.QueuedRequests,
                r.KvCacheUtilization,
                view.Router.CachedBlocks(r.Id),
                breakers.GetValueOrDefault(r.Id, "closed")))
            .ToArray();
        return new StatusSnapshot(
            view.Role,
            view.Region,
            view.Consistency,
            view.Router.Policy.Name,
            admission.IsDraining,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            view.Peers(),
            replicas,
            door.Decisions.Snapshot(),
            view.Gossip(),
            typeof(NodeStatus).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
    }
}

/// <summary>What <c>GET /status</c> returns.</summary>
public sealed record StatusSnapshot(
    string Role,
    string Region,
    string Consistency,
    string Policy,
    bool Draining,
    long AtUnixMs,
    IReadOnlyList<PeerReading> Regions,
    IReadOnlyList<ReplicaStatus> Replicas,
    IReadOnlyList<DecisionEntry> Decisions,
    GossipReading? Gossip,
    string? Version);

/// <summary>One replica as the node's router sees it.</summary>
public sealed record ReplicaStatus(string Id, string Region, string Health, int Running, int Queued, double KvUsage, int HotBlocks, string Breaker);
