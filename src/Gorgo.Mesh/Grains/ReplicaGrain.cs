using System.Runtime.CompilerServices;
using Gorgo.Engine.Backends;
using Gorgo.Engine.OpenAi;
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
        string id = MeshKeys.ReplicaIdOf(this.GetPrimaryKeyString());
        LocalReplica? replica = region.FindLocal(id);
        if (replica is null)
        {
            yield return GenerationChunk.FromError(new OpenAiError(503, $"Replica '{id}' is not served by the node of region '{region.Region}'.", OpenAiError.Server, code: "replica_unavailable"), retryable: true);
            yield break;
        }

        await using IAsyncEnumerator<BackendChunk> chunks = replica.Backend.GenerateAsync(request.ToBackendRequest(), cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            GenerationChunk? failure = null;
            bool more = false;
            try
            {
                more = await chunks.MoveNextAsync().ConfigureAwait(true);
            }
            catch (BackendException ex)
            {
                failure = GenerationChunk.FromError(ex.ToOpenAiError(), ex.Failure is BackendFailure.Unavailable or BackendFailure.Overloaded or BackendFailure.Timeout);
            }

            if (failure is not null)
            {
                yield return failure;
                yield break;
            }

            if (!more)
            {
                yield break;
            }

            BackendChunk chunk = chunks.Current;
            yield return chunk.IsFinal
                ? new GenerationChunk
                {
                    FinishReason = chunk.FinishReason,
                    PromptTokens = chunk.Usage?.PromptTokens ?? request.PromptTokens,
                    CompletionTokens = chunk.Usage?.CompletionTokens ?? 0,
                    CachedTokens = chunk.Usage?.CachedTokens ?? 0,
                }
                : new GenerationChunk { Text = chunk.Text };
        }
    }
}
