using Gorgo.Mesh.Wire;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;

namespace Gorgo.Mesh.Tests;

/// <summary>How the ingress reads an error piece from another region's replica grain.</summary>
public class GenerationChunkTests
{
    private static readonly OpenAiError ServerError = new(502, "engine crashed", OpenAiError.Server, code: "backend_error");

    [Fact]
    public void A_failure_of_the_replica_called_counts_against_it_and_may_be_retried()
    {
        BackendException failure = GenerationChunk.FromError(ServerError, retryable: true).ToBackendException();

        Assert.True(failure.Retryable);
        Assert.True(failure.CountsAgainstReplica);
        Assert.Equal(502, failure.ToOpenAiError().Status);
    }

    [Fact]
    public void A_failure_of_a_replica_the_remote_node_rebound_to_may_be_retried_but_does_not_count_against_the_one_called()
    {
        BackendException failure = GenerationChunk.FromError(ServerError, retryable: true, servedBy: "euc-2").ToBackendException();

        Assert.True(failure.Retryable);
        Assert.False(failure.CountsAgainstReplica);
        Assert.Contains("euc-2", failure.Message, StringComparison.Ordinal);
        Assert.Equal(502, failure.ToOpenAiError().Status);
    }

    [Fact]
    public void A_client_error_is_never_retried_whoever_served_it()
    {
        var invalid = new OpenAiError(400, "bad prompt");
        Assert.False(GenerationChunk.FromError(invalid, retryable: false).ToBackendException().Retryable);
        Assert.False(GenerationChunk.FromError(invalid, retryable: false, servedBy: "euc-2").ToBackendException().Retryable);
    }
}
