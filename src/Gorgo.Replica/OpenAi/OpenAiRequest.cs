using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.OpenAi;

/// <summary>Which OpenAI endpoint a request came to.</summary>
public enum OpenAiEndpoint
{
    /// <summary><c>POST /v1/completions</c>.</summary>
    Completions,

    /// <summary><c>POST /v1/chat/completions</c>.</summary>
    ChatCompletions,
}

/// <summary>A validated OpenAI completion or chat completion request (the fields the router and engine use).</summary>
public sealed record OpenAiRequest
{
    /// <summary>Default <c>max_tokens</c> of the completions API when the client gives none.</summary>
    public const int DefaultCompletionMaxTokens = 16;

    /// <summary>The endpoint.</summary>
    public required OpenAiEndpoint Endpoint { get; init; }

    /// <summary>Requested model.</summary>
    public required string Model { get; init; }

    /// <summary>Prompt text (completions with a string prompt).</summary>
    public string? Prompt { get; init; }

    /// <summary>Prompt as token ids (completions with an integer-array prompt).</summary>
    public int[]? PromptTokenIds { get; init; }

    /// <summary>Chat messages (chat completions).</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>Output tokens requested; null means "as many as the context allows" (chat without a limit).</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Whether to stream server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary>Whether a streamed response ends with a usage chunk (<c>stream_options.include_usage</c>).</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>
    /// The client's other fields (the prompt or messages as sent, sampling settings, tools, ...) as one UTF-8 JSON
    /// object, which HTTP replicas receive unchanged; null when the request did not come from a client body.
    /// </summary>
    public byte[]? ForwardedJson { get; init; }
}
