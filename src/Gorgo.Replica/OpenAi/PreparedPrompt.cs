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
    public static PreparedPrompt From(OpenAiRequest request, PromptEncoder encoder, int maxContextTokens, int defaultMaxTokens) =>
        From(request, encoder.FromTokens(Tokens(request, encoder)), maxContextTokens, defaultMaxTokens);

    /// <summary>The request's prompt as token ids (text and chat tokenized by <paramref name="encoder"/>).</summary>
    /// <exception cref="OpenAiError">400 when the request has no prompt.</exception>
    public static int[] Tokens(OpenAiRequest request, PromptEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(encoder);
        return request switch
        {
            { PromptTokenIds: { } ids } => ids,
            { Prompt: { } text } => encoder.Tokenize(text),
            { Messages: { } messages } => encoder.Tokenize(messages),
            _ => throw OpenAiError.BadRequest("The request has no prompt."),
        };
    }

    /// <summary>Settles <c>max_tokens</c> for a prompt already in blocks (see the other overload).</summary>
    /// <exception cref="OpenAiError">413 when prompt plus output exceed <paramref name="maxContextTokens"/>.</exception>
    public static PreparedPrompt From(OpenAiRequest request, PromptBlocks blocks, int maxContextTokens, int defaultMaxTokens)
    {
        ArgumentNullException.ThrowIfNull(request);
        int available = maxContextTokens - blocks.TokenCount;
        int maxTokens = request.MaxTokens ?? Math.Min(defaultMaxTokens, Math.Max(available, 1));
        if ((long)blocks.TokenCount + maxTokens > maxContextTokens)
        {
            throw OpenAiError.ContextTooLong(blocks.TokenCount, maxTokens, maxContextTokens);
        }

        return new PreparedPrompt(blocks, maxTokens);
    }
}
