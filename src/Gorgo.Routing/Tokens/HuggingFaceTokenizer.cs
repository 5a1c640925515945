using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Gorgo.Routing.Tokens;

/// <summary>
/// A model's own byte-level BPE tokenizer read from a Hugging Face <c>tokenizer.json</c> (Llama 3, Qwen 2/2.5/3 and
/// other GPT-2-style vocabularies with one regex split), run by Microsoft.ML.Tokenizers, so that the router's token
/// ids, and therefore its block boundaries, are the engine's for text and token-id prompts. Chat prompts are rendered
/// with the router's own template (<see cref="ChatTemplate"/>), not the model's, so their ids differ from the engine's.
/// </summary>
/// <remarks>
/// Read: the BPE vocabulary and merges (string or pair form), added tokens (matched whole, before pre-tokenization,
/// as the engine does), the normalizer (none, NFC, NFKC, NFD, NFKD), the pre-tokenizer (a regex <c>Split</c> followed
/// by <c>ByteLevel</c>, or <c>ByteLevel</c> with GPT-2's regex), <c>ignore_merges</c>, and a post-processor's leading
/// special token (Llama 3's <c>&lt;|begin_of_text|&gt;</c>), which <see cref="BeginningOfSequence"/> exposes.
/// Anything else (WordPiece, Unigram, SentencePiece-style Metaspace tokenizers) is refused with the part that is not
/// supported.
/// </remarks>
public sealed class HuggingFaceTokenizer : IPromptTokenizer
{
    /// <summary>GPT-2's pre-tokenization regex, used by a <c>ByteLevel</c> pre-tokenizer with <c>use_regex</c>.</summary>
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer _tokenizer;
    private readonly Regex? _split;
    private readonly Regex? _added;
    private readonly IReadOnlyDictionary<string, int> _addedIds;
    private readonly IReadOnlyDictionary<string, int>? _wholeWords;
    private readonly NormalizationForm? _normalization;

    private HuggingFaceTokenizer(string name, BpeTokenizer tokenizer, Regex? split, IReadOnlyDictionary<string, int> added, IReadOnlyDictionary<string, int>? wholeWords, NormalizationForm? normalization, int? bos)
    {
        Name = name;
        _tokenizer = tokenizer;
        _split = split;
        _addedIds = added;
        _added = added.Count == 0 ? null : new Regex(string.Join('|', added.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)), RegexOptions.CultureInvariant);
        _wholeWords = wholeWords;
        _normalization = normalization;
        BeginningOfSequence = bos;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public int? BeginningOfSequence { get; }

    /// <summary>Reads a <c>tokenizer.json</c>.</summary>
    /// <exception cref="ArgumentException">The file is missing, is not JSON, or describes a tokenizer this class does not run (the message says which part).</exception>
    public static HuggingFaceTokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new ArgumentException($"Tokenizer file '{path}' does not exist.", nameof(path));
        }

        try
        {
            using FileStream stream = File.OpenRead(path);
            using JsonDocument json = JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
            return FromJson(json.RootElement, Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) is { Length: > 0 } dir ? dir : path);
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"Tokenizer file '{path}' is not valid JSON: {ex.Message}", nameof(path), ex);
        }
        catch (NotSupportedException ex)
        {
            throw new ArgumentException($"Tokenizer file '{path}': {ex.Message}", nameof(path), ex);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            throw new ArgumentException($"Tokenizer file '{path}' is not a Hugging Face tokenizer.json this router can read ({ex.Message}).", nameof(path), ex);
        }
    }

    /// <summary>Builds the tokenizer from a parsed <c>tokenizer.json</c>; <paramref name="name"/> names it in logs.</summary>
    /// <exception cref="NotSupportedException">A part of the tokenizer is not supported (the message says which).</exception>
    public static HuggingFaceTokenizer FromJson(JsonElement root, string name)
    {
        JsonElement model = root.GetProperty("model");
        string type = model.TryGetProperty("type", out JsonElement t) ? t.GetString() ?? "" : "BPE";
        if (type != "BPE")
        {
            throw new NotSupportedException($"model type '{type}' is not supported (only byte-level BPE).");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in model.GetProperty("vocab").EnumerateObject())
        {
            vocab[entry.Name] = entry.Value.GetInt32();
        }

        var merges = new List<string>();
        foreach (JsonElement merge in model.GetProperty("merges").EnumerateArray())
        {
            merges.Add(merge.ValueKind == JsonValueKind.Array ? $"{merge[0].GetString()} {merge[1].GetString()}" : merge.GetString()!);
        }

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out JsonElement addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement token in addedTokens.EnumerateArray())
            {
                added[token.GetProperty("content").GetString()!] = token.GetProperty("id").GetInt32();
            }
        }

        (Regex? split, bool byteLevel) = PreTokenizer(root.TryGetProperty("pre_tokenizer", out JsonElement pre) ? pre : default);
        if (!byteLevel)
        {
            throw new NotSupportedException("the pre-tokenizer has no ByteLevel step (only byte-level BPE is supported).");
        }

        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = null,
            Normalizer = null,
        };
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out JsonElement im) && im.ValueKind == JsonValueKind.True;
        return new HuggingFaceTokenizer(
            name,
            BpeTokenizer.Create(options),
            split,
            added,
            ignoreMerges ? vocab : null,
            Normalization(root.TryGetProperty("normalizer", out JsonElement n) ? n : default),
            LeadingSpecialToken(root.TryGetProperty("post_processor", out JsonElement post) ? post : default, added, vocab));
    }

    /// <inheritdoc />
    public void Encode(string text, List<int> destination)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(destination);
        int start = 0;
        if (_added is not null)
        {
            for (Match m = _added.Match(text); m.Success; m = m.NextMatch())
            {
                EncodeSegment(text.AsSpan(start, m.Index - start), destination);
                destination.Add(_addedIds[m.Value]);
                start = m.Index + m.Length;
            }
        }

        EncodeSegment(text.AsSpan(start), destination);
    }

    private void EncodeSegment(ReadOnlySpan<char> segment, List<int> destination)
    {
        if (segment.IsEmpty)
        {
            return;
        }

        string text = _normalization is { } form ? segment.ToString().Normalize(form) : segment.ToString();
        if (_split is null)
        {
            EncodeWord(text, destination);
            return;
        }

        // Isolated: each match is a word, and so is any text between matches (the shipped patterns leave none).
        int at = 0;
        foreach (ValueMatch piece in _split.EnumerateMatches(text))
        {
            if (piece.Index > at)
            {
                EncodeWord(text[at..piece.Index], destination);
            }

            EncodeWord(text.Substring(piece.Index, piece.Length), destination);
            at = piece.Index + piece.Length;
        }

        if (at < text.Length)
        {
            EncodeWord(text[at..], destination);
        }
    }

    private void EncodeWord(string word, List<int> destination)
    {
        if (_wholeWords is not null && _wholeWords.TryGetValue(ByteLevelForm(word), out int id))
        {
            destination.Add(id);
            return;
        }

        destination.AddRange(_tokenizer.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
    }

    /// <summary>The pre-tokenizer's split regex (null: the whole text is one word) and whether it maps bytes to GPT-2's alphabet.</summary>
    private static (Regex? Split, bool ByteLevel) PreTokenizer(JsonElement pre)
    {
        if (pre.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return (null, false);
        }

        string type = pre.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                Regex? split = null;
                bool byteLevel = false;
                foreach (JsonElement step in pre.GetProperty("pretokenizers").EnumerateArray())
                {
                    (Regex? s, bool b) = PreTokenizer(step);
                    if (s is not null && split is not null)
                    {
                        throw new NotSupportedException("a pre-tokenizer sequence with more than one split is not supported.");
                    }

                    split ??= s;
                    byteLevel |= b;
                }

                return (split, byteLevel);
            case "ByteLevel":
                if (pre.TryGetProperty("add_prefix_space", out JsonElement prefix) && prefix.ValueKind == JsonValueKind.True)
                {
                    throw new NotSupportedException("a ByteLevel pre-tokenizer with add_prefix_space is not supported.");
                }

                bool useRegex = !pre.TryGetProperty("use_regex", out JsonElement r) || r.ValueKind == JsonValueKind.True;
                return (useRegex ? new Regex(Gpt2Pattern, RegexOptions.CultureInvariant) : null, true);
            case "Split":
                string behavior = pre.TryGetProperty("behavior", out JsonElement bh) ? bh.GetString() ?? "" : "";
                if (behavior != "Isolated" || (pre.TryGetProperty("invert", out JsonElement inv) && inv.ValueKind == JsonValueKind.True))
                {
                    throw new NotSupportedException($"a Split pre-tokenizer with behavior '{behavior}' is not supported (only Isolated).");
                }

                JsonElement pattern = pre.GetProperty("pattern");
                string regex = pattern.TryGetProperty("Regex", out JsonElement rx) ? rx.GetString()! : Regex.Escape(pattern.GetProperty("String").GetString()!);
                return (new Regex(regex, RegexOptions.CultureInvariant), false);
            default:
                throw new NotSupportedException($"pre-tokenizer '{type}' is not supported.");
        }
    }

    private static NormalizationForm? Normalization(JsonElement normalizer)
    {
        if (normalizer.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }

        string type = normalizer.GetProperty("type").GetString() ?? "";
        return type switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "NFD" => NormalizationForm.FormD,
            "NFKD" => NormalizationForm.FormKD,
            "Sequence" when normalizer.GetProperty("normalizers").GetArrayLength() == 0 => null,
            "Sequence" when normalizer.GetProperty("normalizers").GetArrayLength() == 1 => Normalization(normalizer.GetProperty("normalizers")[0]),
            _ => throw new NotSupportedException($"normalizer '{type}' is not supported (only NFC, NFKC, NFD, NFKD)."),
        };
    }

    /// <summary>The special token a post-processor puts before every sequence (Llama 3's begin-of-text), or null.</summary>
    private static int? LeadingSpecialToken(JsonElement post, Dictionary<string, int> added, Dictionary<string, int> vocab)
    {
        if (post.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return null;
        }

        switch (post.GetProperty("type").GetString())
        {
            case "Sequence":
                foreach (JsonElement step in post.GetProperty("processors").EnumerateArray())
                {
                    if (LeadingSpecialToken(step, added, vocab) is { } id)
                    {
                        return id;
                    }
                }

                return null;
            case "TemplateProcessing":
                JsonElement first = post.GetProperty("single")[0];
                if (!first.TryGetProperty("SpecialToken", out JsonElement special))
                {
                    return null;
                }

                string content = special.GetProperty("id").GetString()!;
                if (post.TryGetProperty("special_tokens", out JsonElement specials) && specials.TryGetProperty(content, out JsonElement entry))
                {
                    return entry.GetProperty("ids")[0].GetInt32();
                }

                return added.TryGetValue(content, out int a) ? a : vocab.TryGetValue(content, out int v) ? v : null;
            default:
                return null;
        }
    }

    /// <summary>A word in GPT-2's byte-level alphabet (each UTF-8 byte as one printable character), as vocabularies spell it.</summary>
    private static string ByteLevelForm(string word)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(word);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteToChar[bytes[i]];
        }

        return new string(chars);
    }

    private static readonly char[] ByteToChar = BuildByteAlphabet();

    /// <summary>GPT-2's <c>bytes_to_unicode</c>: printable bytes map to themselves, the rest to 256 and up.</summary>
    private static char[] BuildByteAlphabet()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }
}
