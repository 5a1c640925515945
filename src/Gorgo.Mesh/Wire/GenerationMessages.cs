using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Tokens;

namespace Gorgo.Mesh.Wire;

/// <summary>A request sent from an ingress to a replica grain: the client's request and its prompt blocks.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationRequest
{
    /// <summary>0 = completions, 1 = chat completions.</summary>
    [Id(0)] public int Endpoint { get; init; }

    /// <summary>Requested model.</summary>
    [Id(1)] public string Model { get; init; } = string.Empty;

    /// <summary>Prompt text (completions).</summary>
    [Id(2)] public string? Prompt { get; init; }

    /// <summary>Prompt token ids (completions with token ids).</summary>
    [Id(3)] public int[]? PromptTokenIds { get; init; }

    /// <summary>Chat roles, parallel to <see cref="Contents"/>.</summary>
    [Id(4)] public string[]? Roles { get; init; }

    /// <summary>Chat contents, parallel to <see cref="Roles"/>.</summary>
    [Id(5)] public string[]? Contents { get; init; }

    /// <summary>Output tokens to generate.</summary>
    [Id(6)] public int MaxTokens { get; init; }

    /// <summary>Prompt length in tokens.</summary>
    [Id(7)] public int PromptTokens { get; init; }

    /// <summary>Chained block hashes of the prompt.</summary>
    [Id(8)] public ulong[] BlockHashes { get; init; } = [];

    /// <summary>Tokens per block.</summary>
    [Id(9)] public int BlockSize { get; init; }

    /// <summary>Whether the client streams (a backend may answer a non-streamed request whole).</summary>
    [Id(10)] public bool Stream { get; init; }

    /// <summary>The client's other fields as UTF-8 JSON, forwarded to HTTP replicas unchanged (see <see cref="OpenAiRequest.ForwardedJson"/>).</summary>
    [Id(11)] public byte[]? ForwardedJson { get; init; }

    /// <summary>The region whose node sent the request (null from a node of an older version).</summary>
    [Id(12)] public string? SenderRegion { get; init; }

    /// <summary>Whether a node that received it already sent it on to another region (it is not relayed again).</summary>
    [Id(13)] public bool Relayed { get; init; }

    /// <summary>What the sender's estimate expected of the engine it chose (the estimate less the network), ms; 0 when unknown.</summary>
    [Id(14)] public double ExpectedEngineMs { get; init; }

    /// <summary>This request as the node of <paramref name="region"/> sends it on to another region's replica.</summary>
    public GenerationRequest RelayedFrom(string region) => this with { SenderRegion = region, Relayed = true };

    /// <summary>
    /// Builds the wire request from a validated client request and its prepared prompt, as the node of
    /// <paramref name="senderRegion"/> sends it expecting <paramref name="expectedEngineMs"/> of the engine.
    /// </summary>
    public static GenerationRequest From(OpenAiRequest request, PreparedPrompt prompt, string? senderRegion = null, double expectedEngineMs = 0) => new()
    {
        SenderRegion = senderRegion,
        ExpectedEngineMs = expectedEngineMs,
        Endpoint = request.Endpoint == OpenAiEndpoint.ChatCompletions ? 1 : 0,
        Model = request.Model,
        Prompt = request.Prompt,
        PromptTokenIds = request.PromptTokenIds,
        Roles = request.Messages?.Select(m => m.Role).ToArray(),
        Contents = request.Messages?.Select(m => m.Content).ToArray(),
        MaxTokens = prompt.MaxTokens,
        PromptTokens = prompt.Blocks.TokenCount,
        BlockHashes = prompt.Blocks.Hashes.ToArray(),
        BlockSize = prompt.Blocks.BlockSize,
        Stream = request.Stream,
        ForwardedJson = request.ForwardedJson,
    };

    /// <summary>The routing request this wire request stands for, as a node of the replica's region routes it on arrival.</summary>
    public RoutingRequest ToRoutingRequest() => new(new PromptBlocks(BlockHashes, PromptTokens, BlockSize), Model, MaxOutputTokens: MaxTokens);

    /// <summary>The backend request this wire request stands for.</summary>
    public BackendRequest ToBackendRequest()
    {
        var request = new OpenAiRequest
        {
            Endpoint = Endpoint == 1 ? OpenAiEndpoint.ChatCompletions : OpenAiEndpoint.Completions,
            Model = Model,
            Prompt = Prompt,
            PromptTokenIds = PromptTokenIds,
            Messages = Roles is null || Contents is null ? null : Roles.Zip(Contents, (r, c) => new ChatMessage(r, c)).ToArray(),
            MaxTokens = MaxTokens,
            Stream = Stream,
            ForwardedJson = ForwardedJson,
        };
        return new BackendRequest(request, new PreparedPrompt(new PromptBlocks(BlockHashes, PromptTokens, BlockSize), MaxTokens));
    }
}

/// <summary>A piece of a replica grain's response: text, or the end with usage, or an error.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationChunk
{
    /// <summary>Generated text (null on the final or error piece).</summary>
    [Id(0)] public string? Text { get; init; }

    /// <summary>Set on the final piece.</summary>
    [Id(1)] public string? FinishReason { get; init; }

    /// <summary>Usage: prompt tokens (final piece).</summary>
    [Id(2)] public int PromptTokens { get; init; }

    /// <summary>Usage: completion tokens (final piece).</summary>
    [Id(3)] public int CompletionTokens { get; init; }

    /// <summary>Usage: cached prompt tokens (final piece).</summary>
    [Id(4)] public int CachedTokens { get; init; }

    /// <summary>HTTP status of an error piece (0 when not an error).</summary>
    [Id(5)] public int ErrorStatus { get; init; }

    /// <summary>Error message.</summary>
    [Id(6)] public string? ErrorMessage { get; init; }

    /// <summary>OpenAI error type.</summary>
    [Id(7)] public string? ErrorType { get; init; }

    /// <summary>OpenAI error code.</summary>
    [Id(8)] public string? ErrorCode { get; init; }

    /// <summary>Whether the backend failed in a way another replica might not (so the ingress may retry elsewhere).</summary>
    [Id(9)] public bool Retryable { get; init; }

    /// <summary>On the first piece, the replica that serves when the node rebound the request to another than the one called; null otherwise.</summary>
    [Id(10)] public string? ServedBy { get; init; }

    /// <summary>Whether this piece is an error.</summary>
    public bool IsError => ErrorStatus != 0;

    /// <summary>The usage carried by a final piece.</summary>
    public OpenAiUsage Usage => new(PromptTokens, CompletionTokens, CachedTokens);

    /// <summary>This piece naming <paramref name="servedBy"/> as <see cref="ServedBy"/>.</summary>
    public GenerationChunk WithServedBy(string servedBy) => this with { ServedBy = servedBy };

    /// <summary>An error piece for a backend failure (<paramref name="servedBy"/>: as <see cref="ServedBy"/>).</summary>
    public static GenerationChunk FromError(OpenAiError error, bool retryable, string? servedBy = null) => new()
    {
        ServedBy = servedBy,
        ErrorStatus = error.Status,
        ErrorMessage = error.Message,
        ErrorType = error.Type,
        ErrorCode = error.Code,
        Retryable = retryable,
    };

    /// <summary>
    /// The backend failure an error piece stands for. A piece from a replica the remote node rebound the request to
    /// (<see cref="ServedBy"/> set) speaks of that replica, not of the one the caller chose and called, so it is
    /// retryable but never counts against the called replica's circuit breaker.
    /// </summary>
    public BackendException ToBackendException()
    {
        if (ServedBy is not null && Retryable)
        {
            return new BackendException(BackendFailure.Overloaded, $"Replica '{ServedBy}', which its node chose on arrival, failed: {ErrorMessage ?? "no detail"}", error: ToError());
        }

        return new BackendException(Retryable ? BackendFailure.Unavailable : BackendFailure.Rejected, ErrorMessage ?? "The replica failed.", ErrorStatus, error: ToError());
    }

    /// <summary>The OpenAI error an error piece stands for.</summary>
    public OpenAiError ToError() => new(ErrorStatus, ErrorMessage ?? "The replica failed.", ErrorType ?? OpenAiError.Server, code: ErrorCode);
}
