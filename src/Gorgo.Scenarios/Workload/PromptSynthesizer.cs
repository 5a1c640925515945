using Gorgo.Scenarios;
using Gorgo.Routing.Hashing;

namespace Gorgo.Scenarios.Workload;

/// <summary>
/// Turns trace requests into token ids. Mooncake block ids become 512 pseudo-random token ids each, a function of the
/// block id alone, so prompts with equal leading block ids have equal leading tokens: the trace's prefix sharing is
/// reproduced exactly, block for block. Azure requests (lengths only) get the synthetic sharing of <see cref="SharingSpec"/>.
/// </summary>
public sealed class PromptSynthesizer(int seed, SharingSpec sharing)
{
    /// <summary>Token ids are drawn below this (cl100k_base has about 100k tokens).</summary>
    public const int Vocabulary = 100_000;

    private readonly double[] _zipfCumulative = ZipfCumulative(sharing.Groups, sharing.ZipfExponent);

    /// <summary>The prompt of <paramref name="request"/> as token ids (the live harness sends these).</summary>
    public int[] Tokens(RequestShape request) => request.BlockIds is { } ids
        ? FromBlocks(ids, request.InputTokens)
        : Synthetic(request.Index, request.InputTokens);

    /// <summary>
    /// The prompt of <paramref name="request"/> as router block hashes, without materialising tokens (the simulator's
    /// view): equal leading trace blocks (Mooncake) or an equal group prefix (synthetic) give equal leading hashes, so
    /// the prefix sharing is the same as that of <see cref="Tokens"/>, block for block.
    /// </summary>
    public PromptBlocks Blocks(RequestShape request, BlockHasher hasher)
    {
        ArgumentNullException.ThrowIfNull(hasher);
        if (request.BlockIds is { } ids)
        {
            return TraceBlocks.FromTraceIds(ids, request.InputTokens, hasher, TraceReader.MooncakeBlockTokens);
        }

        (ulong groupKey, ulong ownKey, int shared) = Layout(request.Index, request.InputTokens);
        var hashes = new ulong[hasher.FullBlocks(request.InputTokens)];
        int sharedBlocks = shared / hasher.BlockSize;
        ulong previous = hasher.Seed;
        for (int b = 0; b < hashes.Length; b++)
        {
            previous = BlockHasher.NextOpaque(previous, b < sharedBlocks ? groupKey : ownKey, (ulong)b);
            hashes[b] = previous;
        }

        return new PromptBlocks(hashes, request.InputTokens, hasher.BlockSize);
    }

    /// <summary>The prompt of a Mooncake request: its blocks' tokens, cut to its length.</summary>
    public int[] FromBlocks(IReadOnlyList<ulong> blockIds, int inputTokens)
    {
        var tokens = new int[inputTokens];
        for (int i = 0; i < tokens.Length; i++)
        {
            int block = i / TraceReader.MooncakeBlockTokens;
            tokens[i] = Token(Mix((ulong)seed, blockIds[block]), (ulong)(i % TraceReader.MooncakeBlockTokens));
        }

        return tokens;
    }

    /// <summary>The prompt of a length-only request number <paramref name="index"/>: its group's prefix, then its own tokens.</summary>
    public int[] Synthetic(int index, int inputTokens)
    {
        (ulong groupKey, ulong ownKey, int shared) = Layout(index, inputTokens);
        var tokens = new int[inputTokens];
        for (int i = 0; i < tokens.Length; i++)
        {
            tokens[i] = i < shared ? Token(groupKey, (ulong)i) : Token(ownKey, (ulong)i);
        }

        return tokens;
    }

    /// <summary>A length-only request's group key, own key and number of leading tokens taken from its group's prefix.</summary>
    private (ulong GroupKey, ulong OwnKey, int Shared) Layout(int index, int inputTokens)
    {
        // Derived with SplitMix64 rather than HashCode, whose seed changes per process: prompts must not.
        int group = Draw(Unit(Mix(Mix((ulong)seed, 0x5eed), (ulong)index)));
        double u = Unit(Mix(Mix((ulong)seed, 0x9e0), (ulong)group));
        int prefix = sharing.MinPrefixTokens + (int)Math.Min(sharing.MaxPrefixTokens - sharing.MinPrefixTokens, Math.Floor(u * (sharing.MaxPrefixTokens - sharing.MinPrefixTokens + 1)));
        int shared = Math.Min(prefix, (int)(sharing.MaxSharedFraction * inputTokens));
        return (Mix((ulong)seed, 0x6700_0000UL + (ulong)group), Mix((ulong)seed, 0x5200_0000_0000UL + (ulong)index), shared);
    }

    /// <summary>A uniform double in [0, 1) from 53 bits of <paramref name="bits"/>.</summary>
    private static double Unit(ulong bits) => (bits >> 11) * (1.0 / (1UL << 53));

    private static int Token(ulong key, ulong position) => (int)(Mix(key, position) % Vocabulary);

    /// <summary>SplitMix64 of two values: a fast, well-spread, deterministic hash.</summary>
    private static ulong Mix(ulong a, ulong b)
    {
        ulong z = a + (b * 0x9E3779B97F4A7C15UL) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static double[] ZipfCumulative(int n, double s)
    {
        var weights = Enumerable.Range(1, n).Select(k => 1.0 / Math.Pow(k, s)).ToArray();
        double total = weights.Sum();
        double sum = 0;
        return weights.Select(w => sum += w / total).ToArray();
    }

    private int Draw(double u)
    {
        int i = Array.BinarySearch(_zipfCumulative, u);
        return Math.Min(i < 0 ? ~i : i, _zipfCumulative.Length - 1);
    }
}
