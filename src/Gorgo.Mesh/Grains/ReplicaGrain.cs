using System.Runtime.CompilerServices;
using Gorgo.Replica.OpenAi;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Orleans.Concurrency;

namespace Gorgo.Mesh.Grains;

/// <summary>Runs requests on the local backend of its replica; placed on the replica's region's silo, reentrant so streams run concurrently.</summary>
[RegionPlacement, Reentrant, GrainType("replica")]
public sealed class ReplicaGrain(RegionState region) : Grain, IReplicaGrain
{
    /// <inheritdoc />
    public Task<string> GetHostRegion() => Task.FromResult(region.Region);

    /// <inheritdoc />
    public async IAsyncEnumerable<GenerationChunk> Generate(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string chosen = MeshKeys.ReplicaIdOf(this.GetPrimaryKeyString());
        string id = region.Node.RebindOnArrival(request.ToRoutingRequest(), chosen); // another node sent it: route it again among this region's replicas
        LocalReplica? replica = region.FindLocal(id);
        if (replica is null)
        {
            yield return GenerationChunk.FromError(new OpenAiError(503, $"Replica '{id}' is not served by the node of region '{region.Region}'.", OpenAiError.Server, code: "replica_unavailable"), retryable: true);
            yield break;
        }

        string? servedBy = string.Equals(id, chosen, StringComparison.Ordinal) ? null : id;
        await foreach (GenerationChunk chunk in ReplicaRunner.RunAsync(replica, request, servedBy, cancellationToken).ConfigureAwait(true))
        {
            yield return chunk;
        }
    }
}
