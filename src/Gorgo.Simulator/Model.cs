using Gorgo.Scenarios.Workload;
using Gorgo.Engine.Model;
using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;

namespace Gorgo.Simulator;

/// <summary>A request in flight in the simulation.</summary>
internal sealed class SimRequest(RequestShape shape, PromptBlocks prompt, int user, int ingress)
{
    public RequestShape Shape { get; } = shape;

    public PromptBlocks Prompt { get; } = prompt;

    /// <summary>The client's region (index).</summary>
    public int User { get; } = user;

    /// <summary>The region whose node (or proxy) routes it.</summary>
    public int Ingress { get; } = ingress;

    /// <summary>The request as its replica's engine receives it (set when it is forwarded).</summary>
    public EngineRequest? Engine { get; set; }

    /// <summary>The chosen replica, -1 before the decision.</summary>
    public int Replica { get; set; } = -1;

    /// <summary>Sync answers still awaited before the decision.</summary>
    public int PendingSync { get; set; }

    /// <summary>Age of the chosen replica's state at decision time.</summary>
    public double StateAgeMs { get; set; }

    /// <summary>Whether the decision was a pathological forward.</summary>
    public bool Pathological { get; set; }

    /// <summary>The router's estimated TTFT.</summary>
    public double EstimatedTtftMs { get; set; }

    /// <summary>Prompt tokens the router believed cached on the chosen replica.</summary>
    public int MatchedTokens { get; set; }
}

/// <summary>One replica: an engine on the virtual clock and, in proxy runs, the proxy's bookkeeping of it.</summary>
internal sealed class SimReplica(int index, string id, int region, EngineCore engine)
{
    public int Index { get; } = index;

    public string Id { get; } = id;

    public int Region { get; } = region;

    public EngineCore Engine { get; } = engine;

    /// <summary>Whether a step is under way, and when it ends.</summary>
    public bool Stepping { get; set; }

    public double StepEndsAtMs { get; set; }

    /// <summary>Numbers the replica's scheduled step ends: an end whose stamp is not this one belongs to a run that was cut.</summary>
    public int StepStamp { get; set; }

    /// <summary>Requests sent to this replica and not yet arrived, with their arrival times (what the oracle also sees).</summary>
    public List<(EngineRequest Request, double ArriveAtMs)> InTransit { get; } = [];

    /// <summary>Requests on the engine by engine id.</summary>
    public Dictionary<long, SimRequest> Active { get; } = [];

    /// <summary>The latest load report (mesh): what digests carry.</summary>
    public ReplicaView? LastView { get; set; }

    /// <summary>Proxy runs: requests running (sent and not finished, as the proxy sees them).</summary>
    public int ProxyRunning { get; set; }

    public long ProxyRunningTokens { get; set; }

    /// <summary>Proxy runs: requests waiting at the proxy for a slot on this replica.</summary>
    public Queue<SimRequest> ProxyQueue { get; } = new();

    public long ProxyWaitingTokens { get; set; }
}

/// <summary>A region's load and prefix summary as gossip carries it.</summary>
internal sealed record SimDigest(int Origin, long Version, double CreatedAtMs, ReplicaView[] Views, ulong[][]? Hot, long Bytes);

/// <summary>A gossip message: the sender's digests and the versions it holds (-1: none), or the reply to one.</summary>
internal sealed record GossipMessage(int From, int To, SimDigest[] Digests, long[]? Known, bool IsReply, long Bytes);

/// <summary>A sync query of one peer on behalf of one request, and the peer's answer.</summary>
internal sealed record SyncExchange(SimRequest Request, int Peer, SimDigest? Answer = null);

/// <summary>One region's mesh node: its router and what it has heard from other regions.</summary>
internal sealed class SimNode(int region, string name, Router router, int[] local, int regions)
{
    public int Region { get; } = region;

    public string Name { get; } = name;

    public Router Router { get; } = router;

    /// <summary>Indices of this region's replicas.</summary>
    public int[] Local { get; } = local;

    /// <summary>The newest digest held from each region (null: none).</summary>
    public SimDigest?[] Remote { get; } = new SimDigest?[regions];

    /// <summary>This node's digest version.</summary>
    public long Version { get; set; }

    /// <summary>Gossip and sync bytes this node sent.</summary>
    public long BytesSent { get; set; }

    /// <summary>Replies still due for this node's current gossip round.</summary>
    public int AwaitedReplies { get; set; }

    /// <summary>Whether a round fell due while the last one was still waiting for replies (it starts when they are in).</summary>
    public bool RoundOverdue { get; set; }

    /// <summary>The versions this node holds, by origin (-1: none).</summary>
    public long[] Known()
    {
        var known = new long[Remote.Length];
        for (int i = 0; i < known.Length; i++)
        {
            known[i] = Remote[i]?.Version ?? -1;
        }

        return known;
    }
}
