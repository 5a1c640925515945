using Gorgo.Routing.Hashing;
using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.OpenAi;

/// <summary>A request's prompt turned into blocks, with the output length settled.</summary>
/// <param name="Blocks">Prompt token count and chained block hashes.</param>
/// <param name="MaxTokens">Tokens to generate.</param>
public sealed record PreparedPrompt(PromptBlocks Blocks, int MaxTokens)
{
    /// <summary>
    /// Tokenizes and hashes the request's prompt (text, token ids or chat) and settles <c>max_tokens</c>: the client's
    /// value, else <paramref name="defaultMaxTokens"/> capped by what the context leaves.
    /// </summary>
    /// <exception cref="OpenAiError">413 when prompt plus output exceed <paramref name="maxContextTokens"/>.</exception>
    public static PreparedPrompt From(OpenAiRequest request, PromptEncoder encoder, int maxContextTokens, int defaultMaxTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(encoder);
        PromptBlocks blocks = request switch
        {
            { PromptTokenIds: { } ids } => encoder.FromTokens(ids),
            { Prompt: { } text } => encoder.Encode(text),
            { Messages: { } messages } => encoder.Encode(messages),
            _ => throw OpenAiError.BadRequest("The request has no prompt."),
        };

        int available = maxContextTokens - blocks.TokenCount;
        int maxTokens = request.MaxTokens ?? Math.Min(defaultMaxTokens, Math.Max(available, 1));
        if ((long)blocks.TokenCount + maxTokens > maxContextTokens)
        {
            throw OpenAiError.ContextTooLong(blocks.TokenCount, maxTokens, maxContextTokens);
        }

        return new PreparedPrompt(blocks, maxTokens);
    }
}
