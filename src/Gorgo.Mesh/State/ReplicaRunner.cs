using System.Runtime.CompilerServices;
using Gorgo.Replica.Backends;
using Gorgo.Mesh.Wire;

namespace Gorgo.Mesh.State;

/// <summary>Runs a wire request on a local replica's backend and turns its output, including failures, into <see cref="GenerationChunk"/>s.</summary>
/// <remarks>Shared by the replica grain (requests from other nodes) and the ingress's local fast path (requests for this node's own replicas).</remarks>
public static class ReplicaRunner
{
    /// <summary>
    /// Yields text pieces, then a final piece with usage, or an error piece when the backend fails; the first piece
    /// names <paramref name="servedBy"/> (a replica other than the one the caller chose) when given.
    /// </summary>
    public static async IAsyncEnumerable<GenerationChunk> RunAsync(LocalReplica replica, GenerationRequest request, string? servedBy = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using IAsyncEnumerator<BackendChunk> chunks = replica.GenerateAsync(request.ToBackendRequest(), cancellationToken).GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            GenerationChunk? failure = null;
            bool more = false;
            try
            {
                more = await chunks.MoveNextAsync().ConfigureAwait(false);
            }
            catch (BackendException ex)
            {
                failure = GenerationChunk.FromError(ex.ToOpenAiError(), ex.Retryable, servedBy);
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
                    ServedBy = servedBy,
                }
                : new GenerationChunk { Text = chunk.Text, ServedBy = servedBy };
            servedBy = null; // named on the first piece only
        }
    }
}
