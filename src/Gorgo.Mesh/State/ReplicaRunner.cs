using System.Runtime.CompilerServices;
using Gorgo.Replica.Backends;
using Gorgo.Mesh.Wire;
using Gorgo.Replica.OpenAi;
using Gorgo.Serving;
using Polly.CircuitBreaker;

namespace Gorgo.Mesh.State;

/// <summary>Runs a wire request on a local replica's backend and turns its output, including failures, into <see cref="GenerationChunk"/>s.</summary>
/// <remarks>Shared by the replica grain (requests from other nodes) and the ingress's local fast path (requests for this node's own replicas).</remarks>
public static class ReplicaRunner
{
    /// <summary>
    /// Yields text pieces, then a final piece with usage, or an error piece when the backend fails; the first piece
    /// names <paramref name="servedBy"/> (a replica other than the one the caller chose) when given. With
    /// <paramref name="breakers"/> (this node's), the wait for the first piece runs through the replica's circuit
    /// breaker, so this node's breakers learn of the replica's failures on requests other nodes sent here too, and an
    /// open breaker answers a retryable error without calling the replica.
    /// </summary>
    public static async IAsyncEnumerable<GenerationChunk> RunAsync(LocalReplica replica, GenerationRequest request, string? servedBy = null, ReplicaBreakers? breakers = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using IAsyncEnumerator<BackendChunk> chunks = replica.GenerateAsync(request.ToBackendRequest(), cancellationToken).GetAsyncEnumerator(cancellationToken);
        bool first = true;
        while (true)
        {
            GenerationChunk? failure = null;
            bool more = false;
            try
            {
                more = first && breakers is not null
                    ? await breakers.ExecuteAsync(replica.Id, static (c, _) => c.MoveNextAsync(), chunks, cancellationToken).ConfigureAwait(false)
                    : await chunks.MoveNextAsync().ConfigureAwait(false);
                first = false;
            }
            catch (BackendException ex)
            {
                failure = GenerationChunk.FromError(ex.ToOpenAiError(), ex.Retryable, servedBy);
            }
            catch (BrokenCircuitException)
            {
                failure = GenerationChunk.FromError(new OpenAiError(503, $"Replica '{replica.Id}' failed repeatedly and its circuit is open; another replica will serve.", OpenAiError.Server, code: "replica_circuit_open"), retryable: true, servedBy);
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
