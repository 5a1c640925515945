namespace Gorgo.Replica.KvEvents;

/// <summary>One change to an engine's KV cache, as vLLM and SGLang publish it.</summary>
public abstract record KvEvent;

/// <summary>Full blocks the engine computed and now caches: consecutive blocks of one chain, first after <see cref="ParentBlockHash"/>.</summary>
/// <param name="BlockHashes">The engine's hashes of the blocks, in chain order (byte hashes folded to 64 bits, see <see cref="KvEventCodec"/>).</param>
/// <param name="ParentBlockHash">The engine's hash of the block before the first, or null when the first block starts a prompt.</param>
/// <param name="TokenIds">The blocks' tokens, <see cref="BlockSize"/> per block.</param>
/// <param name="BlockSize">Tokens per block.</param>
/// <param name="LoraId">The adapter the blocks were computed with, if any.</param>
/// <param name="Medium">Where the blocks live (<c>GPU</c>, <c>CPU</c>, ...; null: the GPU).</param>
public sealed record KvBlockStored(ulong[] BlockHashes, ulong? ParentBlockHash, int[] TokenIds, int BlockSize, long? LoraId, string? Medium) : KvEvent;

/// <summary>Blocks the engine evicted.</summary>
/// <param name="BlockHashes">The engine's hashes of the blocks.</param>
/// <param name="Medium">Where the blocks were (null: the GPU).</param>
public sealed record KvBlockRemoved(ulong[] BlockHashes, string? Medium) : KvEvent;

/// <summary>The engine dropped every cached block (e.g. a cache reset).</summary>
public sealed record KvAllBlocksCleared : KvEvent;

/// <summary>One published message: the events of one engine step.</summary>
/// <param name="Timestamp">Seconds since the Unix epoch when the batch was made.</param>
/// <param name="Events">The events in order.</param>
/// <param name="DataParallelRank">The engine's data-parallel rank, when it has one.</param>
public sealed record KvEventBatch(double Timestamp, IReadOnlyList<KvEvent> Events, int? DataParallelRank = null);

/// <summary>A batch with the sequence number it was published under.</summary>
/// <param name="Sequence">0 for an engine's first batch, then +1 per batch.</param>
/// <param name="Batch">The batch.</param>
public readonly record struct SequencedKvBatch(long Sequence, KvEventBatch Batch);
