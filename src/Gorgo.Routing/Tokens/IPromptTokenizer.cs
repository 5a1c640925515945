namespace Gorgo.Routing.Tokens;

/// <summary>Turns prompt text into token ids.</summary>
/// <remarks>Implementations must be deterministic and thread-safe: equal text gives equal ids.</remarks>
public interface IPromptTokenizer
{
    /// <summary>Name of the vocabulary, e.g. <c>cl100k_base</c>.</summary>
    string Name { get; }

    /// <summary>The token an engine puts before every prompt it tokenizes (Llama 3's begin-of-text), or null for none.</summary>
    int? BeginningOfSequence => null;

    /// <summary>Token ids of <paramref name="text"/>, appended to <paramref name="destination"/>.</summary>
    void Encode(string text, List<int> destination);
}
