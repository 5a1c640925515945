using Gorgo.Replica.OpenAi;

namespace Gorgo.Replica.Backends;

/// <summary>A request for a backend: the client's validated request and its prepared prompt.</summary>
/// <param name="Request">The OpenAI request (endpoint, model, prompt or messages, stream options).</param>
/// <param name="Prompt">Its prompt blocks and settled output length.</param>
public sealed record BackendRequest(OpenAiRequest Request, PreparedPrompt Prompt);

/// <summary>One piece of a backend's response: a token's text, or the end (finish reason and usage).</summary>
/// <param name="Text">Generated text of this piece (null on the final piece).</param>
/// <param name="FinishReason">Set on the final piece.</param>
/// <param name="Usage">Set on the final piece when the backend reported usage.</param>
/// <param name="ServedBy">On the first piece, the replica that serves when it is not the one called (a mesh node rebound the request on arrival); null otherwise.</param>
public readonly record struct BackendChunk(string? Text, string? FinishReason = null, OpenAiUsage? Usage = null, string? ServedBy = null)
{
    /// <summary>Whether this is the final piece.</summary>
    public bool IsFinal => FinishReason is not null;
}

/// <summary>A backend's load as last observed (exact for in-process engines, scraped from <c>/metrics</c> for HTTP ones).</summary>
/// <param name="RunningRequests">Requests in the running batch.</param>
/// <param name="WaitingRequests">Requests waiting.</param>
/// <param name="RunningTokens">Prompt tokens of running requests, when the backend reports them.</param>
/// <param name="WaitingTokens">Prompt tokens of waiting requests, when the backend reports them.</param>
/// <param name="KvUtilization">KV-cache usage, 0 to 1.</param>
/// <param name="PrefixQueryTokens">Cumulative prefix-cache query tokens, when reported.</param>
/// <param name="PrefixHitTokens">Cumulative prefix-cache hit tokens, when reported.</param>
/// <param name="TakenAt">When the observation was made.</param>
/// <param name="RunningPrefillTokens">Prompt tokens of running requests not yet prefilled, when reported (in-process engines, <c>gorgo replica</c>).</param>
/// <param name="DecodeMsPerRequest">How long a request holds a batch slot after its first token, ms, when reported or derivable (vLLM's decode-time histogram, or end-to-end minus TTFT means).</param>
/// <param name="DecodeStepMs">How long one decode step takes (the gap between a request's tokens), ms, when reported (<c>gorgo replica</c>'s gauge, else the mean of vLLM's or SGLang's inter-token latency histogram).</param>
public sealed record BackendLoad(
    int RunningRequests,
    int WaitingRequests,
    long? RunningTokens,
    long? WaitingTokens,
    double KvUtilization,
    long? PrefixQueryTokens,
    long? PrefixHitTokens,
    DateTimeOffset TakenAt,
    long? RunningPrefillTokens = null,
    double? DecodeMsPerRequest = null,
    double? DecodeStepMs = null);

/// <summary>A replica the router can send requests to: an in-process engine or an HTTP server (vLLM, SGLang, <c>gorgo replica</c>).</summary>
public interface IReplicaBackend : IAsyncDisposable
{
    /// <summary>The model this backend serves.</summary>
    string Model { get; }

    /// <summary>Runs a request, yielding generated text as it arrives and a final piece with finish reason and usage.</summary>
    /// <exception cref="BackendException">The backend refused or failed the request.</exception>
    IAsyncEnumerable<BackendChunk> GenerateAsync(BackendRequest request, CancellationToken cancellationToken);

    /// <summary>The backend's current load.</summary>
    /// <exception cref="BackendException">The load could not be read.</exception>
    ValueTask<BackendLoad> GetLoadAsync(CancellationToken cancellationToken);

    /// <summary>Whether the backend answers its health check.</summary>
    ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken);
}
