using Gorgo.Mesh.Wire;
using Orleans.Concurrency;

namespace Gorgo.Mesh.Grains;

/// <summary>A replica of the mesh, living on its region's silo: runs requests on its backend and streams the tokens back.</summary>
public interface IReplicaGrain : IGrainWithStringKey
{
    /// <summary>Runs a request, yielding text pieces and then a final piece with usage (or an error piece).</summary>
    IAsyncEnumerable<GenerationChunk> Generate(GenerationRequest request, CancellationToken cancellationToken = default);

    /// <summary>The region of the node this grain runs on (a diagnostic: it should be the replica's own).</summary>
    [AlwaysInterleave]
    Task<string> GetHostRegion();
}

/// <summary>A region of the mesh, living on its region's silo: the endpoint of gossip, RTT probes and exact-state queries.</summary>
public interface IRegionGrain : IGrainWithStringKey
{
    /// <summary>Gossip exchange: takes the caller's <see cref="Core.Wire.GossipMessage"/> (MessagePack), returns this region's.</summary>
    [AlwaysInterleave]
    Task<byte[]> Exchange(byte[] gossip);

    /// <summary>A fresh digest of this region (MessagePack) for <paramref name="requester"/>'s region, for the <c>sync</c> setting.</summary>
    [AlwaysInterleave]
    Task<byte[]> GetExactState(string requester);

    /// <summary>Answers at once; callers time it to measure RTT.</summary>
    [AlwaysInterleave]
    Task Ping();
}
