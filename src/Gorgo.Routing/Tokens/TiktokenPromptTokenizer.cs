using Microsoft.ML.Tokenizers;

namespace Gorgo.Routing.Tokens;

/// <summary>The default tokenizer: OpenAI's BPE vocabularies via Microsoft.ML.Tokenizers (cl100k_base is shipped).</summary>
public sealed class TiktokenPromptTokenizer : IPromptTokenizer
{
    /// <summary>Name of the shipped default vocabulary.</summary>
    public const string DefaultEncoding = "cl100k_base";

    private static readonly Lazy<TiktokenPromptTokenizer> LazyDefault = new(() => new TiktokenPromptTokenizer(DefaultEncoding));

    private readonly Tokenizer _tokenizer;

    /// <summary>Loads the named tiktoken encoding; its data package must be referenced (cl100k_base is).</summary>
    public TiktokenPromptTokenizer(string encoding)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(encoding);
        try
        {
            _tokenizer = TiktokenTokenizer.CreateForEncoding(encoding);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            throw new ArgumentException($"Unknown or unavailable tokenizer encoding '{encoding}'. The shipped encoding is '{DefaultEncoding}'.", nameof(encoding), ex);
        }

        Name = encoding;
    }

    /// <summary>The shared cl100k_base tokenizer (loaded once, on first use).</summary>
    public static TiktokenPromptTokenizer Default => LazyDefault.Value;

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public void Encode(string text, List<int> destination)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(destination);
        if (text.Length == 0)
        {
            return;
        }

        destination.AddRange(_tokenizer.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true));
    }
}
