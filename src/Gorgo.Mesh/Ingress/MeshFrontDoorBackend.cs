using System.Runtime.CompilerServices;
using Gorgo.Replica.Backends;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Gossip;
using Gorgo.Mesh.Grains;
using Gorgo.Mesh.Placement;
using Gorgo.Mesh.State;
using Gorgo.Mesh.Wire;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Serving;

namespace Gorgo.Mesh.Ingress;

/// <summary>
/// How a mesh node's front door reaches replicas: its own replicas in process (their grain lives on this silo anyway,
/// so the call would only add Orleans messaging), other regions' through their replica grain, one hop away. Under
/// <c>sync</c> it queries every region before each decision.
/// </summary>
public sealed class MeshFrontDoorBackend(RegionState state, GossipService gossip, IGrainFactory grains) : IFrontDoorBackend
{
    /// <inheritdoc />
    public Router Router => state.Router;

    /// <inheritdoc />
    public async ValueTask<RoutingDecision> RouteAsync(RoutingRequest routing, BackendRequest request, RoutingDecision into, CancellationToken cancellationToken)
    {
        if (state.Consistency == ConsistencyMode.Sync)
        {
            await gossip.SyncAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        }

        RoutingDecision decision = state.Router.Route(routing, into);
        state.Stats.Decided(decision.IsCrossRegion);
        return decision;
    }

    /// <inheritdoc />
    public IAsyncEnumerable<BackendChunk> RunAsync(CandidateScore target, BackendRequest request, CancellationToken cancellationToken) =>
        target.Region == state.Region && state.FindLocal(target.ReplicaId) is { } local
            ? local.GenerateAsync(request, cancellationToken)
            : ThroughGrainAsync(target, GenerationRequest.From(request.Request, request.Prompt, state.Region, target.Estimate.EngineMs), cancellationToken);

    /// <summary>The front door's settings for a node of this mesh.</summary>
    public static FrontDoorOptions OptionsFor(RegionState state) => new()
    {
        Region = state.Region,
        Consistency = state.Consistency.Name(),
        Scope = state.Node.Scope,
        ConfiguredRtt = state.ConfiguredRtt,
        WanEmulation = state.Options.WanEmulation,
        DefaultMaxTokens = state.Options.DefaultMaxTokens,
        Resilience = state.Options.Resilience,
        ConfiguredModels = state.Options.Replicas.Select(r => r.Model).ToHashSet(StringComparer.Ordinal),
    };

    private async IAsyncEnumerable<BackendChunk> ThroughGrainAsync(CandidateScore target, GenerationRequest wire, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        IReplicaGrain grain = grains.GetGrain<IReplicaGrain>(MeshKeys.Replica(target.Region, target.ReplicaId));
        IAsyncEnumerator<GenerationChunk> chunks = grain.Generate(wire, cancellationToken).GetAsyncEnumerator(cancellationToken);
        CancellationToken reachable = state.WhileReachable(target.Region);
        try
        {
            while (true)
            {
                // A failure of the replica's silo or of the call, or its region becoming unreachable, is retryable.
                RemoteChunks.Next next = await RemoteChunks.NextAsync(chunks, target.Region, target.ReplicaId, reachable, cancellationToken).ConfigureAwait(false);
                if (next.Failure is { } failure)
                {
                    throw new BackendException(BackendFailure.Unavailable, failure, inner: next.Cause);
                }

                if (next.Chunk is not { } chunk)
                {
                    yield break;
                }

                if (chunk.IsError)
                {
                    throw chunk.ToBackendException();
                }

                yield return chunk.FinishReason is { } finish ? new BackendChunk(null, finish, chunk.Usage, chunk.ServedBy) : new BackendChunk(chunk.Text, ServedBy: chunk.ServedBy);
            }
        }
        finally
        {
            await RemoteChunks.EndAsync(chunks, reachable).ConfigureAwait(false);
        }
    }
}
