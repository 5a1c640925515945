using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tokens;

/// <summary>Turns any prompt input (text, chat, token ids, trace block ids) into <see cref="PromptBlocks"/>.</summary>
public sealed class PromptEncoder
{
    /// <summary>Creates an encoder from a tokenizer and a block hasher.</summary>
    public PromptEncoder(IPromptTokenizer tokenizer, BlockHasher hasher)
    {
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        Hasher = hasher ?? throw new ArgumentNullException(nameof(hasher));
    }

    /// <summary>An encoder with the cl100k_base tokenizer and 16-token blocks.</summary>
    public static PromptEncoder CreateDefault(int blockSize = BlockHasher.DefaultBlockSize) =>
        new(TiktokenPromptTokenizer.Default, new BlockHasher(blockSize));

    /// <summary>The tokenizer used for text and chat inputs.</summary>
    public IPromptTokenizer Tokenizer { get; }

    /// <summary>The block hasher.</summary>
    public BlockHasher Hasher { get; }

    /// <summary>Tokens of a plain-text prompt (completions API), after the tokenizer's beginning-of-sequence token if it has one (as engines tokenize a text prompt).</summary>
    public int[] Tokenize(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Length == 0)
        {
            throw new ArgumentException("The prompt is empty.", nameof(prompt));
        }

        var tokens = new List<int>(prompt.Length / 3);
        if (Tokenizer.BeginningOfSequence is { } bos)
        {
            tokens.Add(bos);
        }

        Tokenizer.Encode(prompt, tokens);
        return tokens.ToArray();
    }

    /// <summary>Tokens of a chat prompt, flattened with <see cref="ChatTemplate"/>.</summary>
    public int[] Tokenize(IReadOnlyList<ChatMessage> messages)
    {
        var tokens = new List<int>();
        if (Tokenizer.BeginningOfSequence is { } bos)
        {
            tokens.Add(bos);
        }

        ChatTemplate.Encode(messages, Tokenizer, tokens);
        return tokens.ToArray();
    }

    /// <summary>Blocks of a plain-text prompt.</summary>
    public PromptBlocks Encode(string prompt) => FromTokens(Tokenize(prompt));

    /// <summary>Blocks of a chat prompt.</summary>
    public PromptBlocks Encode(IReadOnlyList<ChatMessage> messages) => FromTokens(Tokenize(messages));

    /// <summary>Blocks of a prompt that is already token ids.</summary>
    public PromptBlocks FromTokens(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("The prompt has no tokens.", nameof(tokens));
        }

        return PromptBlocks.FromTokens(tokens, Hasher);
    }

    /// <summary>Blocks of a trace prompt that carries only block ids (see <see cref="TraceBlocks"/>).</summary>
    public PromptBlocks FromTrace(ReadOnlySpan<ulong> traceIds, int inputLength, int traceBlockSize = TraceBlocks.MooncakeBlockSize) =>
        TraceBlocks.FromTraceIds(traceIds, inputLength, Hasher, traceBlockSize);
}
