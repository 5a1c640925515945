using System.Diagnostics;
using System.Runtime.CompilerServices;
using Gorgo.Replica.OpenAi;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Ingress;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Gorgo.Serving;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;

namespace Gorgo.Mesh.Grains;

/// <summary>
/// Runs requests other nodes sent on the local backend of its replica (rebinding them on arrival, or relaying them once
/// to another region's replica grain), through this node's circuit breakers; placed on the replica's region's silo, reentrant so streams run concurrently.
/// </summary>
[RegionPlacement, Reentrant, GrainType("replica")]
public sealed class ReplicaGrain(RegionState region, IServiceProvider services) : Grain, IReplicaGrain
{
    // The node's front door holds its breakers; a silo without one (a test cluster) runs without breakers.
    private readonly ReplicaBreakers? _breakers = services.GetService<FrontDoor>()?.Breakers;

    /// <inheritdoc />
    public Task<string> GetHostRegion() => Task.FromResult(region.Region);

    /// <inheritdoc />
    public async IAsyncEnumerable<GenerationChunk> Generate(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string chosen = MeshKeys.ReplicaIdOf(this.GetPrimaryKeyString());

        // Another node sent it: route it again on this node's view, among this region's replicas or, once, onwards.
        ArrivalChoice choice = region.Node.RouteOnArrival(request.ToRoutingRequest(), chosen, request.SenderRegion, mayRelay: !request.Relayed, request.ExpectedEngineMs);
        if (choice.Relayed)
        {
            IReplicaGrain next = GrainFactory.GetGrain<IReplicaGrain>(MeshKeys.Replica(choice.Region, choice.ReplicaId));
            await foreach (GenerationChunk chunk in RelayAsync(next, request.RelayedFrom(region.Region), choice.Region, choice.ReplicaId, cancellationToken).ConfigureAwait(true))
            {
                yield return chunk;
            }

            yield break;
        }

        LocalReplica? replica = region.FindLocal(choice.ReplicaId);
        if (replica is null)
        {
            yield return GenerationChunk.FromError(new OpenAiError(503, $"Replica '{choice.ReplicaId}' is not served by the node of region '{region.Region}'.", OpenAiError.Server, code: "replica_unavailable"), retryable: true);
            yield break;
        }

        string? servedBy = string.Equals(choice.ReplicaId, chosen, StringComparison.Ordinal) ? null : choice.ReplicaId;
        long started = Stopwatch.GetTimestamp();
        bool observed = choice.Model is null;
        await foreach (GenerationChunk chunk in ReplicaRunner.RunAsync(replica, request, servedBy, _breakers, cancellationToken).ConfigureAwait(true))
        {
            if (!observed && !chunk.IsError)
            {
                // The first token: this node calibrates its replica from every request it serves, other nodes' too.
                observed = true;
                region.Node.ObserveArrival(choice.ReplicaId, choice.Model!.Value, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            yield return chunk;
        }
    }

    /// <summary>
    /// Streams another region's replica's response through this node, naming <paramref name="replicaId"/> on the first
    /// piece unless that node names its own rebinding. A failure of the call, or that region becoming unreachable from
    /// this node while waiting (as the ingress watches its own calls), becomes a retryable error piece.
    /// </summary>
    private async IAsyncEnumerable<GenerationChunk> RelayAsync(IReplicaGrain next, GenerationRequest request, string onwardRegion, string replicaId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        IAsyncEnumerator<GenerationChunk> chunks = next.Generate(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
        CancellationToken reachable = region.WhileReachable(onwardRegion);
        try
        {
            bool first = true;
            while (true)
            {
                RemoteChunks.Next read = await RemoteChunks.NextAsync(chunks, onwardRegion, replicaId, reachable, cancellationToken).ConfigureAwait(true);
                if (read.Failure is { } failure)
                {
                    yield return GenerationChunk.FromError(new OpenAiError(503, $"{failure} This node had relayed the request there.", OpenAiError.Server, code: "replica_unavailable"), retryable: true, servedBy: replicaId);
                    yield break;
                }

                if (read.Chunk is not { } chunk)
                {
                    yield break;
                }

                yield return first && chunk.ServedBy is null ? chunk.WithServedBy(replicaId) : chunk;
                first = false;
                if (chunk.IsError)
                {
                    yield break;
                }
            }
        }
        finally
        {
            await RemoteChunks.EndAsync(chunks, reachable).ConfigureAwait(true);
        }
    }
}
