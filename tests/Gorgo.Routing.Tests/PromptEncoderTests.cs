using Gorgo.Routing.Hashing;
using Gorgo.Routing.Tokens;

namespace Gorgo.Routing.Tests;

public class PromptEncoderTests
{
    private static readonly PromptEncoder Encoder = PromptEncoder.CreateDefault();

    [Fact]
    public void Default_tokenizer_is_cl100k_base()
    {
        Assert.Equal("cl100k_base", Encoder.Tokenizer.Name);

        // "hello world" is two tokens in cl100k_base: 15339 ("hello"), 1917 (" world").
        Assert.Equal([15339, 1917], Encoder.Tokenize("hello world"));
    }

    [Fact]
    public void Conversations_sharing_their_first_messages_share_those_tokens()
    {
        ChatMessage[] first =
        [
            new("system", "You are a careful assistant for a logistics company. Answer briefly and cite the handbook section."),
            new("user", "Where is my parcel NW12345678901?"),
        ];
        ChatMessage[] longer = [.. first, new("assistant", "It left the Leipzig depot this morning."), new("user", "When will it arrive?")];

        int[] a = Encoder.Tokenize(first);
        int[] b = Encoder.Tokenize(longer);

        // The generation prompt ends conversation a, so only its messages (not that suffix) are a prefix of b.
        int[] suffix = GenerationPrompt();
        Assert.True(a.AsSpan().EndsWith(suffix));
        Assert.True(a.Length - suffix.Length > 20);
        Assert.True(b.AsSpan().StartsWith(a.AsSpan(0, a.Length - suffix.Length)));
    }

    [Fact]
    public void Conversation_prefix_gives_equal_block_hashes()
    {
        ChatMessage system = new("system", string.Concat(Enumerable.Repeat("Policy text that is long enough to fill several blocks. ", 20)));
        PromptBlocks a = Encoder.Encode([system, new ChatMessage("user", "first question")]);
        PromptBlocks b = Encoder.Encode([system, new ChatMessage("user", "a different question entirely")]);
        int systemBlocks = Encoder.Tokenize([system]).Length / 16 - 1;
        Assert.True(systemBlocks > 5);
        Assert.True(a.Hashes.Span[..systemBlocks].SequenceEqual(b.Hashes.Span[..systemBlocks]));
    }

    [Fact]
    public void Empty_inputs_are_rejected_with_clear_messages()
    {
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => Encoder.Encode(string.Empty)).Message);
        Assert.Contains("at least one message", Assert.Throws<ArgumentException>(() => Encoder.Encode(Array.Empty<ChatMessage>())).Message);
        Assert.Contains("no tokens", Assert.Throws<ArgumentException>(() => Encoder.FromTokens([])).Message);
        Assert.Contains("no role", Assert.Throws<ArgumentException>(() => Encoder.Encode([new ChatMessage("", "x")])).Message);
    }

    [Fact]
    public void Token_inputs_and_text_inputs_agree()
    {
        const string text = "The quick brown fox jumps over the lazy dog, again and again, until the block is full.";
        Assert.True(Encoder.Encode(text).Hashes.Span.SequenceEqual(Encoder.FromTokens(Encoder.Tokenize(text)).Hashes.Span));
    }

    [Fact]
    public void Unknown_encoding_is_a_clear_error()
    {
        var ex = Assert.Throws<ArgumentException>(() => new TiktokenPromptTokenizer("no_such_encoding"));
        Assert.Contains("cl100k_base", ex.Message);
    }

    private static int[] GenerationPrompt()
    {
        var tokens = new List<int>();
        Encoder.Tokenizer.Encode(ChatTemplate.MessageStart + "assistant\n", tokens);
        return tokens.ToArray();
    }
}
