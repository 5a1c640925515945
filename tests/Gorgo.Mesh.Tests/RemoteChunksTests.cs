using Gorgo.Mesh.Grains;
using Gorgo.Mesh.Wire;

namespace Gorgo.Mesh.Tests;

/// <summary>How the ingress and a relaying node read another region's response stream: pieces, its end, and why it failed.</summary>
public class RemoteChunksTests
{
    /// <summary>A stream whose next piece comes when <see cref="Arrive"/> says, whose reads may throw, and whose end may hang.</summary>
    private sealed class Stream(Exception? failure = null, bool hangOnDispose = false) : IAsyncEnumerator<GenerationChunk>
    {
        private readonly TaskCompletionSource<bool> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public GenerationChunk Current { get; } = new() { Text = "hi" };

        public bool Disposed { get; private set; }

        public void Arrive(bool more) => _next.SetResult(more);

        public ValueTask<bool> MoveNextAsync() => failure is not null ? ValueTask.FromException<bool>(failure) : new(_next.Task);

        public async ValueTask DisposeAsync()
        {
            if (hangOnDispose)
            {
                await Task.Delay(Timeout.Infinite);
            }

            Disposed = true;
        }
    }

    [Fact]
    public async Task A_piece_and_then_the_end_of_the_stream_are_read_as_they_come()
    {
        var stream = new Stream();
        stream.Arrive(more: true);
        RemoteChunks.Next piece = await RemoteChunks.NextAsync(stream, "eu", "eu-1", CancellationToken.None, CancellationToken.None);
        Assert.Equal(("hi", null), (piece.Chunk?.Text, piece.Failure));

        var ended = new Stream();
        ended.Arrive(more: false);
        Assert.Equal(new RemoteChunks.Next(null, null, null), await RemoteChunks.NextAsync(ended, "eu", "eu-1", CancellationToken.None, CancellationToken.None));
    }

    [Fact]
    public async Task A_region_becoming_unreachable_while_waiting_ends_the_wait_with_a_failure_that_names_it()
    {
        var stream = new Stream();
        using var reachable = new CancellationTokenSource();
        ValueTask<RemoteChunks.Next> waiting = RemoteChunks.NextAsync(stream, "eu", "eu-1", reachable.Token, CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        await reachable.CancelAsync();

        RemoteChunks.Next next = await waiting;
        Assert.Null(next.Chunk);
        Assert.Contains("Region 'eu'", next.Failure);
        Assert.Contains("unreachable", next.Failure);
    }

    [Fact]
    public async Task A_failed_call_is_a_failure_with_its_cause_but_the_callers_own_cancellation_propagates()
    {
        var lost = new InvalidOperationException("silo gone");
        RemoteChunks.Next next = await RemoteChunks.NextAsync(new Stream(lost), "eu", "eu-1", CancellationToken.None, CancellationToken.None);
        Assert.Same(lost, next.Cause);
        Assert.Contains("silo gone", next.Failure);

        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await RemoteChunks.NextAsync(new Stream(new OperationCanceledException(caller.Token)), "eu", "eu-1", CancellationToken.None, caller.Token));
    }

    [Fact]
    public async Task Ending_a_stream_waits_for_it_unless_its_region_is_unreachable()
    {
        var stream = new Stream();
        await RemoteChunks.EndAsync(stream, CancellationToken.None);
        Assert.True(stream.Disposed);

        // A hanging end (the call would wait out the response timeout) is not awaited once the region is unreachable.
        using var unreachable = new CancellationTokenSource();
        await unreachable.CancelAsync();
        var hanging = new Stream(hangOnDispose: true);
        Task ending = RemoteChunks.EndAsync(hanging, unreachable.Token).AsTask();
        Assert.True(ending.IsCompletedSuccessfully);
    }
}
