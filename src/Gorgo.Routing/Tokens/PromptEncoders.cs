using Gorgo.Routing.Hashing;

namespace Gorgo.Routing.Tokens;

/// <summary>The prompt encoder of each model: the model's own tokenizer where one is configured, cl100k_base otherwise.</summary>
public sealed class PromptEncoders
{
    private readonly Dictionary<string, PromptEncoder> _byModel;

    /// <summary>Encoders for the named models, <paramref name="fallback"/> for every other model.</summary>
    public PromptEncoders(PromptEncoder fallback, IReadOnlyDictionary<string, PromptEncoder>? byModel = null)
    {
        Default = fallback ?? throw new ArgumentNullException(nameof(fallback));
        _byModel = byModel is null ? new(StringComparer.Ordinal) : new(byModel, StringComparer.Ordinal);
    }

    /// <summary>The encoder of models without a tokenizer of their own.</summary>
    public PromptEncoder Default { get; }

    /// <summary>cl100k_base for every model, 16-token blocks.</summary>
    public static PromptEncoders CreateDefault() => new(PromptEncoder.CreateDefault());

    /// <summary>
    /// Encoders for <paramref name="tokenizerFiles"/> (model → path of a Hugging Face <c>tokenizer.json</c>; null or
    /// empty: the default), each file read once, with <paramref name="blockSize"/>-token blocks.
    /// </summary>
    /// <exception cref="ArgumentException">A tokenizer file cannot be read (the message names it).</exception>
    public static PromptEncoders Load(IReadOnlyDictionary<string, string?> tokenizerFiles, int blockSize = BlockHasher.DefaultBlockSize)
    {
        ArgumentNullException.ThrowIfNull(tokenizerFiles);
        var hasher = new BlockHasher(blockSize);
        var loaded = new Dictionary<string, PromptEncoder>(StringComparer.Ordinal);
        var byModel = new Dictionary<string, PromptEncoder>(StringComparer.Ordinal);
        foreach ((string model, string? file) in tokenizerFiles)
        {
            if (string.IsNullOrWhiteSpace(file))
            {
                continue;
            }

            string path = Path.GetFullPath(file);
            if (!loaded.TryGetValue(path, out PromptEncoder? encoder))
            {
                encoder = new PromptEncoder(HuggingFaceTokenizer.Load(path), hasher);
                loaded[path] = encoder;
            }

            byModel[model] = encoder;
        }

        return new PromptEncoders(new PromptEncoder(TiktokenPromptTokenizer.Default, hasher), byModel);
    }

    /// <summary>The encoder for prompts to <paramref name="model"/>.</summary>
    public PromptEncoder For(string? model) => model is not null && _byModel.TryGetValue(model, out PromptEncoder? encoder) ? encoder : Default;
}
