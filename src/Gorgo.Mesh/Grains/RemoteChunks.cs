using Gorgo.Mesh.Wire;

namespace Gorgo.Mesh.Grains;

/// <summary>Reads another region's replica grain response stream for the ingress and for a relaying node alike.</summary>
internal static class RemoteChunks
{
    /// <summary>
    /// The next piece of <paramref name="chunks"/>, null at its end; when the call fails (its silo gone, the enumerator
    /// lost, a timeout) or <paramref name="region"/> becomes unreachable from this node while waiting
    /// (<paramref name="reachable"/> cancelled), <see cref="Next.Failure"/> says why instead. The caller's own cancellation
    /// propagates.
    /// </summary>
    public static async ValueTask<Next> NextAsync(IAsyncEnumerator<GenerationChunk> chunks, string region, string replicaId, CancellationToken reachable, CancellationToken cancellationToken)
    {
        try
        {
            ValueTask<bool> next = chunks.MoveNextAsync();
            bool any = next.IsCompleted ? next.Result : await next.AsTask().WaitAsync(reachable).ConfigureAwait(false);
            return new Next(any ? chunks.Current : null, null, null);
        }
        catch (OperationCanceledException) when (reachable.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new Next(null, $"Region '{region}' of replica '{replicaId}' became unreachable from this node.", null);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested))
        {
            return new Next(null, $"Replica '{replicaId}' in region '{region}' became unreachable: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Ends a remote enumeration, quietly (when its silo is gone there is nothing to end); when its region became
    /// unreachable, without waiting, since the call would wait out the response timeout.
    /// </summary>
    public static async ValueTask EndAsync(IAsyncEnumerator<GenerationChunk> chunks, CancellationToken reachable)
    {
        if (reachable.IsCancellationRequested)
        {
            _ = DisposeQuietlyAsync(chunks).AsTask();
            return;
        }

        await DisposeQuietlyAsync(chunks).ConfigureAwait(false);
    }

    private static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<GenerationChunk> chunks)
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

    /// <summary>A piece read (null at the end of the stream), or why reading failed.</summary>
    public readonly record struct Next(GenerationChunk? Chunk, string? Failure, Exception? Cause);
}
