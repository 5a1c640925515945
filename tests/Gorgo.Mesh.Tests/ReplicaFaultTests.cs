using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Mesh.Tests;

/// <summary>Injected replica faults: a failing replica ends its streams with an error and refuses new ones until restored; a slowed one runs slower.</summary>
public class ReplicaFaultTests
{
    private static BackendRequest Request(int maxTokens)
    {
        var request = new OpenAiRequest { Endpoint = OpenAiEndpoint.Completions, Model = "m", Prompt = "Hello there", MaxTokens = maxTokens, Stream = true };
        return new BackendRequest(request, PreparedPrompt.From(request, PromptEncoder.CreateDefault(), 8192, maxTokens));
    }

    private static async Task<LocalReplica> ReplicaAsync()
    {
        LocalReplica replica = LocalReplica.Create(new ReplicaOptions { Id = "r1", Region = "a", Model = "m", Profile = "h100-8b" }, TimeSpan.FromMilliseconds(50), NullLoggerFactory.Instance);
        replica.Monitor.Start();
        while (replica.CurrentView("a") is null)
        {
            await Task.Delay(20);
        }

        return replica;
    }

    [Fact]
    public async Task A_failing_replica_ends_its_streams_with_an_error_refuses_new_ones_and_recovers_when_restored()
    {
        await using LocalReplica replica = await ReplicaAsync();
        await using IAsyncEnumerator<BackendChunk> running = replica.GenerateAsync(Request(5_000)).GetAsyncEnumerator();
        Assert.True(await running.MoveNextAsync());

        Assert.Null(replica.Fail());

        BackendException cut = await Assert.ThrowsAsync<BackendException>(async () =>
        {
            while (await running.MoveNextAsync())
            {
            }
        });
        Assert.True(cut.Retryable);
        await Assert.ThrowsAsync<BackendException>(async () => await replica.GenerateAsync(Request(4)).GetAsyncEnumerator().MoveNextAsync());
        Assert.Equal(ReplicaHealth.Unhealthy, replica.CurrentView("a")!.Health);
        Assert.Equal(0, replica.InFlight);

        Assert.Null(replica.Restore());
        int chunks = 0;
        await foreach (BackendChunk _ in replica.GenerateAsync(Request(4)))
        {
            chunks++;
        }

        Assert.True(chunks >= 4);
        Assert.False(replica.Failing);
    }

    [Fact]
    public async Task A_slowed_replica_takes_longer_for_the_same_request()
    {
        await using LocalReplica replica = await ReplicaAsync();
        async Task<TimeSpan> TimeAsync()
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            await foreach (BackendChunk _ in replica.GenerateAsync(Request(40)))
            {
            }

            return watch.Elapsed;
        }

        await TimeAsync(); // warm-up: the first request pays for JIT

        // A busy machine only makes a run slower, so the quickest of three is the replica's own pace.
        TimeSpan normal = TimeSpan.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            TimeSpan run = await TimeAsync();
            normal = run < normal ? run : normal;
        }

        Assert.Null(replica.Slow(4));
        TimeSpan slowed = await TimeAsync();

        Assert.True(slowed > normal * 2, $"normal {normal.TotalMilliseconds:F0} ms, slowed {slowed.TotalMilliseconds:F0} ms");
        Assert.Equal(4, replica.Engine!.Slowdown);
        replica.Restore();
        Assert.Equal(1, replica.Engine.Slowdown);
    }
}
