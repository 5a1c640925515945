using System.Text.Json;
using Gorgo.Routing.Options;

namespace Gorgo.Engine.Profiles;

/// <summary>Timing and capacity of one GPU replica: configuration, not code (see the shipped JSON profiles).</summary>
/// <remarks>
/// A step that prefills u uncached tokens on top of c cached ones costs a + b·u + k·u·(c + u/2) ms; a decode-only step
/// costs d + e·(sum of running context) + f·(batch size). A mixed step (chunked prefill with the decode batch) pays the
/// fixed part once: max(a, d) plus every prefill and decode term.
/// </remarks>
public sealed record EngineProfile
{
    /// <summary>Profile name, e.g. <c>h100-8b</c>.</summary>
    public string Name { get; init; } = "custom";

    /// <summary>What hardware and model the profile stands for, and where its numbers come from.</summary>
    public string Description { get; init; } = string.Empty;

    /// <summary>Tokens per KV block (must equal the router's block size for exact cache views).</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Cap on requests in the running batch.</summary>
    public int MaxRunningRequests { get; init; } = 64;

    /// <summary>Token budget of one engine step (prefill chunks plus one token per decoding request).</summary>
    public int MaxBatchedTokens { get; init; } = 8192;

    /// <summary>Largest prefill chunk one request gets in one step.</summary>
    public int PrefillChunkTokens { get; init; } = 8192;

    /// <summary>KV-cache capacity in blocks.</summary>
    public int KvCapacityBlocks { get; init; } = 28_125;

    /// <summary>Longest prompt plus output accepted, in tokens.</summary>
    public int MaxContextTokens { get; init; } = 131_072;

    /// <summary>a: fixed cost of a step that prefills, ms.</summary>
    public double PrefillFixedMs { get; init; } = 5.6;

    /// <summary>b: prefill cost per uncached token, ms.</summary>
    public double PrefillMsPerToken { get; init; } = 0.030;

    /// <summary>k: attention cost, ms per uncached token per token of context (the u·(c + u/2) term).</summary>
    public double PrefillAttentionMsPerToken2 { get; init; } = 1.3e-6;

    /// <summary>d: fixed cost of a decode step, ms (reading the weights once).</summary>
    public double DecodeFixedMs { get; init; } = 5.6;

    /// <summary>e: decode cost per token of running context, ms (reading the KV cache).</summary>
    public double DecodeMsPerContextToken { get; init; } = 5.24e-5;

    /// <summary>f: decode cost per sequence in the batch, ms.</summary>
    public double DecodeMsPerSequence { get; init; } = 0.02;

    /// <summary>Names of the profiles shipped with the engine.</summary>
    public static IReadOnlyList<string> ShippedNames { get; } = ["h100-8b", "a100-7b"];

    /// <summary>Profile JSON options: camelCase, comments allowed, unknown fields rejected.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Prefill time of u uncached tokens on c cached ones, without the fixed part: b·u + k·u·(c + u/2).</summary>
    public double PrefillWorkMs(int uncached, int cached) =>
        (PrefillMsPerToken * uncached) + (PrefillAttentionMsPerToken2 * uncached * (cached + (uncached / 2.0)));

    /// <summary>Predicted time of a prefill-only step: a + b·u + k·u·(c + u/2).</summary>
    public double PrefillStepMs(int uncached, int cached) => PrefillFixedMs + PrefillWorkMs(uncached, cached);

    /// <summary>Decode work of a batch, without the fixed part: e·context + f·batch.</summary>
    public double DecodeWorkMs(long contextTokens, int batch) => (DecodeMsPerContextToken * contextTokens) + (DecodeMsPerSequence * batch);

    /// <summary>Predicted time of a decode-only step: d + e·context + f·batch.</summary>
    public double DecodeStepMs(long contextTokens, int batch) => DecodeFixedMs + DecodeWorkMs(contextTokens, batch);

    /// <summary>Problems with this profile, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(!string.IsNullOrWhiteSpace(Name), "name is required.")
        .Check(BlockSize is >= 1 and <= 4096, $"blockSize must be between 1 and 4096 (got {BlockSize}).")
        .Check(MaxRunningRequests >= 1, $"maxRunningRequests must be at least 1 (got {MaxRunningRequests}).")
        .Check(MaxBatchedTokens >= MaxRunningRequests, $"maxBatchedTokens ({MaxBatchedTokens}) must be at least maxRunningRequests ({MaxRunningRequests}).")
        .Check(PrefillChunkTokens >= 1 && PrefillChunkTokens <= MaxBatchedTokens, $"prefillChunkTokens must be between 1 and maxBatchedTokens (got {PrefillChunkTokens}).")
        .Check(KvCapacityBlocks >= 1, $"kvCapacityBlocks must be at least 1 (got {KvCapacityBlocks}).")
        .Check(MaxContextTokens >= 1 && (long)MaxContextTokens <= (long)KvCapacityBlocks * BlockSize, $"maxContextTokens must be between 1 and the KV capacity ({(long)KvCapacityBlocks * BlockSize} tokens; got {MaxContextTokens}).")
        .Finite(PrefillFixedMs, "prefillFixedMs")
        .Finite(PrefillMsPerToken, "prefillMsPerToken")
        .Finite(PrefillAttentionMsPerToken2, "prefillAttentionMsPerToken2")
        .Finite(DecodeFixedMs, "decodeFixedMs")
        .Finite(DecodeMsPerContextToken, "decodeMsPerContextToken")
        .Finite(DecodeMsPerSequence, "decodeMsPerSequence")
        .Check(PrefillFixedMs + PrefillMsPerToken > 0 && DecodeFixedMs + DecodeMsPerSequence > 0, "steps must take some time: prefill and decode costs cannot all be zero.")
        .Errors;

    /// <summary>Throws <see cref="RoutingOptionsException"/> when the profile is invalid; returns it otherwise.</summary>
    public EngineProfile EnsureValid()
    {
        new OptionsErrors().Include(Validate()).ThrowIfAny($"engine profile '{Name}'");
        return this;
    }

    /// <summary>Loads a shipped profile by name, or a JSON profile file by path.</summary>
    public static EngineProfile Load(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrPath);
        string json;
        Stream? shipped = typeof(EngineProfile).Assembly.GetManifestResourceStream($"Gorgo.Engine.Profiles.{nameOrPath}.json");
        if (shipped is not null)
        {
            using var reader = new StreamReader(shipped);
            json = reader.ReadToEnd();
        }
        else if (File.Exists(nameOrPath))
        {
            json = File.ReadAllText(nameOrPath);
        }
        else
        {
            throw new ArgumentException($"Unknown engine profile '{nameOrPath}': not a shipped profile ({string.Join(", ", ShippedNames)}) nor a file.", nameof(nameOrPath));
        }

        try
        {
            EngineProfile profile = JsonSerializer.Deserialize<EngineProfile>(json, JsonOptions)
                ?? throw new ArgumentException($"Engine profile '{nameOrPath}' is empty.", nameof(nameOrPath));
            return profile.EnsureValid();
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"Engine profile '{nameOrPath}' is not valid JSON for a profile: {ex.Message}", nameof(nameOrPath), ex);
        }
    }
}
