using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gorgo.Routing.Fleet;

namespace Gorgo.Serving.Telemetry;

/// <summary>
/// Gorgo's instruments. Every measurement carries the deciding node's <c>region</c>; replica and peer labels come
/// from the configured fleet, so label cardinality is bounded by it. The observable ones read the registered
/// nodes (<see cref="Register"/>) when scraped.
/// </summary>
public static class GorgoMetrics
{
    private static readonly double[] LatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    private static readonly double[] ErrorBuckets = [-10, -5, -2.5, -1, -0.5, -0.25, -0.1, -0.05, -0.01, 0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] AgeBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
    private static readonly ConcurrentDictionary<INodeView, byte> Nodes = new();

    /// <summary>The <c>reason</c>s of <see cref="AdmissionRejections"/>: the error codes of the refusals.</summary>
    public static readonly IReadOnlyList<string> RejectionReasons = ["router_saturated", "replicas_saturated", "node_draining"];

    /// <summary><c>gorgo_requests_total</c>: requests answered, by <c>outcome</c> (ok, client_error, server_error, rejected, cancelled).</summary>
    public static Counter<long> Requests { get; } = GorgoTelemetry.Meter.CreateCounter<long>("gorgo.requests", null, "Requests the front door answered, by outcome.");

    /// <summary><c>gorgo_ttft_seconds</c>: time to first token as the ingress sees it.</summary>
    public static Histogram<double> Ttft { get; } = Histogram("gorgo.ttft", "s", "Time to first token as the ingress sees it.", LatencyBuckets);

    /// <summary><c>gorgo_e2e_seconds</c>: time to the last token.</summary>
    public static Histogram<double> EndToEnd { get; } = Histogram("gorgo.e2e", "s", "Time to the response's end as the ingress sees it.", LatencyBuckets);

    /// <summary><c>gorgo_ttft_estimate_error_seconds</c>: actual minus estimated TTFT of the chosen replica.</summary>
    public static Histogram<double> EstimateError { get; } = Histogram("gorgo.ttft_estimate_error", "s", "Actual minus estimated TTFT of the replica that was chosen (positive: slower than estimated).", ErrorBuckets);

    /// <summary><c>gorgo_route_decisions_total</c>: decisions by <c>policy</c> and <c>placement</c> (home, cross_region).</summary>
    public static Counter<long> Decisions { get; } = GorgoTelemetry.Meter.CreateCounter<long>("gorgo.route_decisions", null, "Routing decisions, by policy and placement.");

    /// <summary><c>gorgo_state_age_seconds</c>: age of the chosen replica's state each decision used.</summary>
    public static Histogram<double> StateAge { get; } = Histogram("gorgo.state_age", "s", "Age of the chosen replica's load state when the decision was made.", AgeBuckets);

    /// <summary><c>gorgo_admission_rejections_total</c>: requests refused before routing or for want of room, by <c>reason</c>.</summary>
    public static Counter<long> AdmissionRejections { get; } = GorgoTelemetry.Meter.CreateCounter<long>("gorgo.admission_rejections", null, "Requests refused (429/503 with Retry-After), by reason.");

    /// <summary><c>gorgo_gateway_requests_total</c>: requests a gateway forwarded, by <c>region</c> and <c>outcome</c> (<see cref="GatewayOutcomes"/>).</summary>
    public static Counter<long> GatewayRequests { get; } = GorgoTelemetry.Meter.CreateCounter<long>("gorgo.gateway.requests", null, "Requests a gateway forwarded, by outcome: answered by a node, no node answered, stream ended with an error event, timed out, refused, or the client left.");

    /// <summary><c>gorgo_gateway_failovers_total</c>: times a gateway moved a request on to its next node because one did not answer, by <c>region</c>.</summary>
    public static Counter<long> GatewayFailovers { get; } = GorgoTelemetry.Meter.CreateCounter<long>("gorgo.gateway.failovers", null, "Times a gateway moved a request on to its next node because one did not answer.");

    /// <summary>The <c>outcome</c> label values of <see cref="GatewayRequests"/>.</summary>
    public static readonly IReadOnlyList<string> GatewayOutcomes = ["answered", "unavailable", "error_event", "timed_out", "refused", "cancelled"];

    /// <summary>Makes every series of a gateway in <paramref name="region"/> exist from the start, at zero.</summary>
    public static void RegisterGateway(string region)
    {
        var tag = new KeyValuePair<string, object?>("region", region);
        foreach (string outcome in GatewayOutcomes)
        {
            GatewayRequests.Add(0, tag, new("outcome", outcome));
        }

        GatewayFailovers.Add(0, tag);
    }

    /// <summary>Makes <paramref name="node"/>'s replicas, peers and gossip visible to the observable instruments until disposed.</summary>
    public static IDisposable Register(INodeView node)
    {
        ArgumentNullException.ThrowIfNull(node);
        EnsureObservables();
        Nodes[node] = 0;

        // Every series a dashboard rates exists from the start, at zero.
        var region = new KeyValuePair<string, object?>("region", node.Region);
        foreach (string outcome in (string[])[RequestOutcomes.Ok, RequestOutcomes.ClientError, RequestOutcomes.ServerError, RequestOutcomes.Rejected, RequestOutcomes.Cancelled])
        {
            Requests.Add(0, region, new("outcome", outcome));
        }

        foreach (string reason in RejectionReasons)
        {
            AdmissionRejections.Add(0, region, new("reason", reason));
        }

        return new Registration(node);
    }

    private static Histogram<double> Histogram(string name, string unit, string description, double[] buckets) =>
        GorgoTelemetry.Meter.CreateHistogram(name, unit, description, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });

    private static int observablesMade;

    private static void EnsureObservables()
    {
        if (Interlocked.Exchange(ref observablesMade, 1) == 1)
        {
            return;
        }

        Meter meter = GorgoTelemetry.Meter;
        meter.CreateObservableGauge("gorgo.replica.running", () => Replicas(r => r.RunningRequests), null, "Running requests of each replica, as the node's router sees them.");
        meter.CreateObservableGauge("gorgo.replica.queued", () => Replicas(r => r.QueuedRequests), null, "Queued requests of each replica, as the node's router sees them.");
        meter.CreateObservableGauge("gorgo.replica.kv_usage", () => Replicas(r => r.KvCacheUtilization), null, "KV-cache use (0-1) of each replica, as the node's router sees them.");
        meter.CreateObservableGauge("gorgo.replica.cache_view", CacheViews, null, "1 for each replica, labelled by how the node knows its prefix cache: exact (engine KV events), approximate (events lost), or decisions.");
        meter.CreateObservableGauge("gorgo.peer_rtt", () => Peers(p => p.RttMs / 1000), "s", "The node's current RTT estimate to each region it follows.");
        meter.CreateObservableGauge("gorgo.region_state_age", () => Peers(p => p.StateAgeMs / 1000), "s", "Age of the newest state the node holds from each region it follows (absent when it holds none).");
        meter.CreateObservableCounter("gorgo.gossip.bytes", GossipBytes, "By", "Gossip payload bytes, by direction.");
        meter.CreateObservableCounter("gorgo.gossip.exchanges", GossipExchanges, null, "Gossip exchanges the node started, by result.");
        meter.CreateObservableCounter("gorgo.gossip.digests", GossipDigests, null, "The node's own digests by kind (delta or whole), and deltas received and dropped for want of their base.");
        meter.CreateObservableCounter("gorgo.forwarded_arrivals", ForwardedArrivals, null, "Requests other regions' nodes forwarded to this node's replicas, by whether this node kept the replica chosen or rebound them to another of its own on arrival.");
    }

    private static IEnumerable<Measurement<double>> Replicas(Func<ReplicaView, double> read)
    {
        foreach (INodeView node in Nodes.Keys)
        {
            foreach (ReplicaView r in node.Router.Replicas)
            {
                yield return new Measurement<double>(read(r), new TagList { { "region", node.Region }, { "replica", r.Id }, { "replica_region", r.Region } });
            }
        }
    }

    private static IEnumerable<Measurement<int>> CacheViews()
    {
        foreach (INodeView node in Nodes.Keys)
        {
            foreach ((string replica, CacheViewKind view) in node.Router.CacheViews())
            {
                yield return new Measurement<int>(1, new TagList { { "region", node.Region }, { "replica", replica }, { "view", view.Name() } });
            }
        }
    }

    private static IEnumerable<Measurement<double>> Peers(Func<PeerReading, double?> read)
    {
        foreach (INodeView node in Nodes.Keys)
        {
            foreach (PeerReading p in node.Peers())
            {
                if (read(p) is { } value)
                {
                    yield return new Measurement<double>(value, new TagList { { "region", node.Region }, { "peer", p.Region } });
                }
            }
        }
    }

    private static IEnumerable<Measurement<long>> GossipBytes()
    {
        foreach (INodeView node in Nodes.Keys)
        {
            if (node.Gossip() is { } g)
            {
                yield return new Measurement<long>(g.BytesSent, new TagList { { "region", node.Region }, { "direction", "sent" } });
                yield return new Measurement<long>(g.BytesReceived, new TagList { { "region", node.Region }, { "direction", "received" } });
            }
        }
    }

    private static IEnumerable<Measurement<long>> GossipExchanges()
    {
        foreach (INodeView node in Nodes.Keys)
        {
            if (node.Gossip() is { } g)
            {
                yield return new Measurement<long>(g.Exchanges, new TagList { { "region", node.Region }, { "result", "ok" } });
                yield return new Measurement<long>(g.Failures, new TagList { { "region", node.Region }, { "result", "failed" } });
            }
        }
    }

    private static IEnumerable<Measurement<long>> GossipDigests()
    {
        foreach (INodeView node in Nodes.Keys)
        {
            if (node.Gossip() is { } g)
            {
                yield return new Measurement<long>(g.Deltas, new TagList { { "region", node.Region }, { "kind", "delta" } });
                yield return new Measurement<long>(g.Wholes, new TagList { { "region", node.Region }, { "kind", "whole" } });
                yield return new Measurement<long>(g.DeltasDropped, new TagList { { "region", node.Region }, { "kind", "dropped" } });
            }
        }
    }

    private static IEnumerable<Measurement<long>> ForwardedArrivals()
    {
        foreach (INodeView node in Nodes.Keys)
        {
            if (node.Gossip() is { } g)
            {
                yield return new Measurement<long>(g.ForwardedArrivals - g.Rebound - g.Relayed, new TagList { { "region", node.Region }, { "outcome", "kept" } });
                yield return new Measurement<long>(g.Rebound, new TagList { { "region", node.Region }, { "outcome", "rebound" } });
                yield return new Measurement<long>(g.Relayed, new TagList { { "region", node.Region }, { "outcome", "relayed" } });
            }
        }
    }

    private sealed class Registration(INodeView node) : IDisposable
    {
        public void Dispose() => Nodes.TryRemove(node, out _);
    }
}
