namespace Gorgo.Replica.OpenAi;

/// <summary>Token usage of one request, as OpenAI reports it.</summary>
/// <param name="PromptTokens">Prompt tokens.</param>
/// <param name="CompletionTokens">Generated tokens.</param>
/// <param name="CachedTokens">Prompt tokens served from the prefix cache (<c>prompt_tokens_details.cached_tokens</c>).</param>
public readonly record struct OpenAiUsage(int PromptTokens, int CompletionTokens, int CachedTokens)
{
    /// <summary>Prompt plus completion tokens.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;
}
