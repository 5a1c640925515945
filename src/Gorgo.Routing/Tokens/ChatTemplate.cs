namespace Gorgo.Routing.Tokens;

/// <summary>Flattens chat messages into tokens with a fixed ChatML-like template.</summary>
/// <remarks>
/// Each message is rendered as <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> and tokenized on its own, then the
/// generation prompt <c>&lt;|im_start|&gt;assistant\n</c> is appended. Tokenizing per message means BPE never merges across
/// a message boundary, so two conversations that share their first k messages share the tokens of those k messages.
/// </remarks>
public static class ChatTemplate
{
    /// <summary>Text that opens each message.</summary>
    public const string MessageStart = "<|im_start|>";

    /// <summary>Text that closes each message.</summary>
    public const string MessageEnd = "<|im_end|>\n";

    /// <summary>Renders one message as the template does (before tokenization).</summary>
    public static string Render(ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return string.Concat(MessageStart, message.Role, "\n", message.Content, MessageEnd);
    }

    /// <summary>Appends the tokens of <paramref name="messages"/> followed by the assistant generation prompt.</summary>
    public static void Encode(IReadOnlyList<ChatMessage> messages, IPromptTokenizer tokenizer, List<int> destination)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(destination);
        if (messages.Count == 0)
        {
            throw new ArgumentException("A chat request needs at least one message.", nameof(messages));
        }

        for (int i = 0; i < messages.Count; i++)
        {
            ChatMessage? message = messages[i] ?? throw new ArgumentException($"Message {i} is null.", nameof(messages));
            if (string.IsNullOrWhiteSpace(message.Role))
            {
                throw new ArgumentException($"Message {i} has no role.", nameof(messages));
            }

            if (message.Content is null)
            {
                throw new ArgumentException($"Message {i} has no content.", nameof(messages));
            }

            tokenizer.Encode(Render(message), destination);
        }

        tokenizer.Encode(MessageStart + "assistant\n", destination);
    }
}
