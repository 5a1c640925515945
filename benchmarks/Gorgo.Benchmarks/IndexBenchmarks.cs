using BenchmarkDotNet.Attributes;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Index;

namespace Gorgo.Benchmarks;

/// <summary>Prefix index throughput: recording a prompt's blocks (with LRU eviction at the bound), matching, and hashing.</summary>
[MemoryDiagnoser]
public class IndexBenchmarks
{
    private const int BlocksPerPrompt = 512; // an 8k-token prompt in 16-token blocks
    private readonly BlockHasher _hasher = new(16);
    private PrefixIndex _index = null!;
    private ulong[][] _prompts = null!;
    private int[] _matched = null!;
    private int[] _tokens = null!;
    private ulong[] _hashes = null!;
    private int _next;

    [Params(64)]
    public int Replicas { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        _index = new PrefixIndex(new PrefixIndexOptions { MaxBlocksPerReplica = 16_384 });
        _prompts = new ulong[256][];
        for (int p = 0; p < _prompts.Length; p++)
        {
            _prompts[p] = new ulong[BlocksPerPrompt];
            for (int b = 0; b < BlocksPerPrompt; b++)
            {
                _prompts[p][b] = (ulong)random.NextInt64();
            }
        }

        // Fill every replica past its bound so each further record evicts.
        for (int r = 0; r < Replicas; r++)
        {
            for (int p = 0; p < 40; p++)
            {
                _index.Record($"r{r}", _prompts[(r + p) % _prompts.Length]);
            }
        }

        _matched = new int[_index.SlotCapacity];
        _tokens = new int[BlocksPerPrompt * 16];
        for (int i = 0; i < _tokens.Length; i++)
        {
            _tokens[i] = random.Next(100_000);
        }

        _hashes = new ulong[BlocksPerPrompt];
    }

    /// <summary>Record one 512-block prompt on a replica (steady state: blocks are evicted to make room).</summary>
    [Benchmark(OperationsPerInvoke = BlocksPerPrompt)]
    public int RecordBlock()
    {
        int i = _next++;
        return _index.Record(i % Replicas, _prompts[(i * 7) % _prompts.Length]);
    }

    /// <summary>Match one 512-block prompt against every replica.</summary>
    [Benchmark(OperationsPerInvoke = BlocksPerPrompt)]
    public int MatchBlock() => _index.Match(_prompts[_next++ % _prompts.Length], _matched);

    /// <summary>Hash the 16-token blocks of an 8k-token prompt.</summary>
    [Benchmark(OperationsPerInvoke = BlocksPerPrompt)]
    public int HashBlock() => _hasher.Hash(_tokens, _hashes);
}
