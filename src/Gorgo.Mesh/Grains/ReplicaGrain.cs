using System.Runtime.CompilerServices;
using Gorgo.Replica.OpenAi;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Gorgo.Serving;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;

namespace Gorgo.Mesh.Grains;

/// <summary>
/// Runs requests other nodes sent on the local backend of its replica (rebinding them on arrival), through this node's
/// circuit breakers; placed on the replica's region's silo, reentrant so streams run concurrently.
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
        string id = region.Node.RebindOnArrival(request.ToRoutingRequest(), chosen); // another node sent it: route it again among this region's replicas
        LocalReplica? replica = region.FindLocal(id);
        if (replica is null)
        {
            yield return GenerationChunk.FromError(new OpenAiError(503, $"Replica '{id}' is not served by the node of region '{region.Region}'.", OpenAiError.Server, code: "replica_unavailable"), retryable: true);
            yield break;
        }

        string? servedBy = string.Equals(id, chosen, StringComparison.Ordinal) ? null : id;
        await foreach (GenerationChunk chunk in ReplicaRunner.RunAsync(replica, request, servedBy, _breakers, cancellationToken).ConfigureAwait(true))
        {
            yield return chunk;
        }
    }
}
