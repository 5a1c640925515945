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
            while (await NextAsync(chunks, target, reachable, cancellationToken).ConfigureAwait(false) is { } chunk)
            {
                if (chunk.IsError)
                {
                    throw chunk.ToBackendException();
                }

                yield return chunk.FinishReason is { } finish ? new BackendChunk(null, finish, chunk.Usage, chunk.ServedBy) : new BackendChunk(chunk.Text, ServedBy: chunk.ServedBy);
            }
        }
        finally
        {
            if (reachable.IsCancellationRequested)
            {
                _ = DisposeQuietlyAsync(chunks).AsTask(); // the call would wait out the response timeout: let it, unawaited
            }
            else
            {
                await DisposeQuietlyAsync(chunks).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Ends a remote enumeration; when its silo is gone there is nothing to end, and that is not an error.</summary>
    internal static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<GenerationChunk> chunks)
    {
        try
        {
            await chunks.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The remote enumerator (or its silo) is already gone.
        }
    }

    /// <summary>
    /// The next chunk from a remote replica; a failure of its silo or of the call (enumerator lost, silo gone, timeout),
    /// or its region becoming unreachable (<paramref name="reachable"/> cancelled) while waiting, becomes a retryable
    /// <see cref="BackendException"/>.
    /// </summary>
    private static async ValueTask<GenerationChunk?> NextAsync(IAsyncEnumerator<GenerationChunk> chunks, CandidateScore target, CancellationToken reachable, CancellationToken cancellationToken)
    {
        try
        {
            ValueTask<bool> next = chunks.MoveNextAsync();
            bool any = next.IsCompleted ? next.Result : await next.AsTask().WaitAsync(reachable).ConfigureAwait(false);
            return any ? chunks.Current : null;
        }
        catch (OperationCanceledException) when (reachable.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new BackendException(BackendFailure.Unavailable, $"Region '{target.Region}' of replica '{target.ReplicaId}' became unreachable from this node.");
        }
        catch (Exception ex) when (ex is not BackendException && (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            throw new BackendException(BackendFailure.Unavailable, $"Replica '{target.ReplicaId}' in region '{target.Region}' became unreachable: {ex.Message}", inner: ex);
        }
    }
}
