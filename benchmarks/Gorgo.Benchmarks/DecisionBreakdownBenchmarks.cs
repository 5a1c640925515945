using System.IO.Hashing;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Hashing;

namespace Gorgo.Benchmarks;

/// <summary>
/// Where the headline decision's time goes (64 replicas, 8k-token prompt): hashing the prompt's 512 blocks, deciding
/// from block hashes, and deciding without recording the routed prompt in the prefix index; and, for comparison, an
/// alternative block hash not in use (a streaming hash of the whole prefix, read after each block).
/// </summary>
[MemoryDiagnoser]
public class DecisionBreakdownBenchmarks
{
    private BenchmarkFleet _fleet = null!;
    private BenchmarkFleet _notLearning = null!;
    private PromptBlocks _blocks;
    private readonly XxHash64 _streaming = new();

    [GlobalSetup]
    public void Setup()
    {
        _fleet = BenchmarkFleet.Create("gorgo", replicas: 64, promptTokens: 8_192);
        _notLearning = BenchmarkFleet.Create("gorgo", replicas: 64, promptTokens: 8_192, learn: false);
        _blocks = PromptBlocks.FromTokens(_fleet.PromptTokens, _fleet.Encoder.Hasher);
    }

    /// <summary>Chained XXH3 of the 512 16-token blocks (the router's hash).</summary>
    [Benchmark]
    public int HashBlocks() => _fleet.Encoder.Hasher.Hash(_fleet.PromptTokens, _fleet.HashBuffer);

    /// <summary>
    /// Not what the router does: one XxHash64 fed the prompt block by block, its digest of the whole prefix read after
    /// each block. Its lanes do not wait on the previous block's hash, but reading a digest per block has a cost.
    /// </summary>
    [Benchmark]
    public ulong HashBlocksStreaming()
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(_fleet.PromptTokens.AsSpan());
        Span<ulong> hashes = _fleet.HashBuffer;
        int blockBytes = _fleet.Encoder.Hasher.BlockSize * sizeof(int);
        _streaming.Reset();
        for (int i = 0; i < hashes.Length; i++)
        {
            _streaming.Append(bytes.Slice(i * blockBytes, blockBytes));
            hashes[i] = _streaming.GetCurrentHashAsUInt64();
        }

        return hashes[^1];
    }

    /// <summary>The decision from already-hashed blocks, including recording the prompt on the chosen replica.</summary>
    [Benchmark]
    public RoutingDecision DecideFromHashes() => _fleet.Router.Route(new RoutingRequest(_blocks, "llama-3-8b"), _fleet.Record);

    /// <summary>The decision from already-hashed blocks, with <c>LearnFromDecisions</c> off.</summary>
    [Benchmark]
    public RoutingDecision DecideFromHashesWithoutLearning() => _notLearning.Router.Route(new RoutingRequest(_blocks, "llama-3-8b"), _notLearning.Record);
}
