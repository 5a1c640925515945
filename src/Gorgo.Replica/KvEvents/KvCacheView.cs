using Gorgo.Routing.Hashing;

namespace Gorgo.Replica.KvEvents;

/// <summary>Receives a <see cref="KvCacheView"/>'s changes in the router's block hashes, in order.</summary>
/// <param name="stored">Router blocks the engine now holds that it did not.</param>
/// <param name="removed">Router blocks the engine no longer holds.</param>
public delegate void KvViewChanged(IReadOnlyList<ulong> stored, IReadOnlyList<ulong> removed);

/// <summary>
/// An engine's prefix cache in the router's own block hashes, kept from its KV events: each stored block's token ids are
/// re-hashed along the router's chain (continuing from the block's parent), so the router's index holds exactly what
/// the engine holds; removals and clears apply at once. Engine blocks may be any size: router blocks completed inside
/// an engine block belong to it (and go when it goes). The view is <see cref="Exact"/> until events are lost (or a
/// block's parent is unknown), then approximate until the engine clears its cache or starts over. Thread-safe.
/// </summary>
public sealed class KvCacheView : IKvEventSink
{
    private readonly Lock _gate = new();
    private readonly BlockHasher _hasher;
    private readonly KvViewChanged? _changed;
    private readonly Dictionary<ulong, EngineBlock> _engineBlocks = [];
    private readonly Dictionary<ulong, int> _routerBlocks = [];
    private readonly List<ulong> _stored = [];
    private readonly List<ulong> _removed = [];
    private string? _approximateReason;
    private long _unresolved;

    /// <summary>Creates an empty, exact view hashing with <paramref name="hasher"/> (the router's block size and seed).</summary>
    public KvCacheView(BlockHasher hasher, KvViewChanged? changed = null)
    {
        _hasher = hasher ?? throw new ArgumentNullException(nameof(hasher));
        _changed = changed;
    }

    /// <summary>Whether the view holds exactly the engine's blocks (no event lost since the last clear).</summary>
    public bool Exact
    {
        get
        {
            lock (_gate)
            {
                return _approximateReason is null;
            }
        }
    }

    /// <summary>Why the view is approximate, or null when exact.</summary>
    public string? ApproximateReason
    {
        get
        {
            lock (_gate)
            {
                return _approximateReason;
            }
        }
    }

    /// <summary>Router blocks held.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _routerBlocks.Count;
            }
        }
    }

    /// <summary>Stored blocks dropped because their parent was unknown (events missed before them).</summary>
    public long UnresolvedBlocks => Interlocked.Read(ref _unresolved);

    /// <summary>The router blocks held, in no order.</summary>
    public ulong[] Hashes()
    {
        lock (_gate)
        {
            return [.. _routerBlocks.Keys];
        }
    }

    /// <summary>Hands the blocks held to <paramref name="consumer"/> while no change can happen (so a copy taken there misses none).</summary>
    public void Snapshot(Action<ulong[]> consumer)
    {
        ArgumentNullException.ThrowIfNull(consumer);
        lock (_gate)
        {
            consumer([.. _routerBlocks.Keys]);
        }
    }

    /// <inheritdoc />
    public void Apply(KvEventBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        lock (_gate)
        {
            foreach (KvEvent e in batch.Events)
            {
                switch (e)
                {
                    case KvBlockStored stored when IsGpu(stored.Medium):
                        Store(stored);
                        break;
                    case KvBlockRemoved removed when IsGpu(removed.Medium):
                        foreach (ulong hash in removed.BlockHashes)
                        {
                            RemoveEngineBlock(hash);
                        }

                        break;
                    case KvAllBlocksCleared:
                        ClearAll();
                        _approximateReason = null;
                        break;
                }
            }

            Publish();
        }
    }

    /// <inheritdoc />
    public void Restart()
    {
        lock (_gate)
        {
            ClearAll();
            _approximateReason = null;
            Publish();
        }
    }

    /// <inheritdoc />
    public void Lose(string reason)
    {
        lock (_gate)
        {
            _approximateReason = reason;
        }
    }

    private static bool IsGpu(string? medium) => medium is null || medium.Equals("GPU", StringComparison.OrdinalIgnoreCase);

    private void Store(KvBlockStored e)
    {
        ulong tail = _hasher.Seed;
        int[] pending = [];
        if (e.ParentBlockHash is { } parent)
        {
            if (!_engineBlocks.TryGetValue(parent, out EngineBlock? before))
            {
                Interlocked.Add(ref _unresolved, e.BlockHashes.Length);
                _approximateReason ??= "a stored block's parent was never seen (events were missed before the view started)";
                return;
            }

            tail = before.RouterTail;
            pending = before.Pending;
        }

        int size = _hasher.BlockSize;
        for (int b = 0; b < e.BlockHashes.Length; b++)
        {
            ReadOnlySpan<int> tokens = e.TokenIds.AsSpan(b * e.BlockSize, e.BlockSize);
            int[] carried = [.. pending, .. tokens];
            int complete = carried.Length / size;
            var routerHashes = new ulong[complete];
            for (int i = 0; i < complete; i++)
            {
                tail = _hasher.Next(tail, carried.AsSpan(i * size, size));
                routerHashes[i] = tail;
            }

            pending = carried[(complete * size)..];
            if (_engineBlocks.ContainsKey(e.BlockHashes[b]))
            {
                continue; // already held (stored again, e.g. by another LoRA-free request)
            }

            _engineBlocks.Add(e.BlockHashes[b], new EngineBlock(routerHashes, tail, pending));
            foreach (ulong h in routerHashes)
            {
                ref int references = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_routerBlocks, h, out bool existed);
                if (!existed)
                {
                    _stored.Add(h);
                }

                references++;
            }
        }
    }

    private void RemoveEngineBlock(ulong engineHash)
    {
        if (!_engineBlocks.Remove(engineHash, out EngineBlock? block))
        {
            return;
        }

        foreach (ulong h in block.RouterHashes)
        {
            if (_routerBlocks.TryGetValue(h, out int references) && references > 1)
            {
                _routerBlocks[h] = references - 1;
            }
            else if (_routerBlocks.Remove(h) && !_stored.Remove(h))
            {
                _removed.Add(h); // (a block stored earlier in this batch is simply not reported)
            }
        }
    }

    private void ClearAll()
    {
        _removed.AddRange(_routerBlocks.Keys);
        _stored.Clear();
        _routerBlocks.Clear();
        _engineBlocks.Clear();
    }

    /// <summary>Hands the batch's net changes to the listener (removals first) and resets the buffers.</summary>
    private void Publish()
    {
        if (_stored.Count + _removed.Count > 0)
        {
            // A block removed and stored again within a batch is reported in both lists; removals apply first.
            _changed?.Invoke(_stored.ToArray(), _removed.ToArray());
        }

        _stored.Clear();
        _removed.Clear();
    }

    /// <summary>One engine block: the router blocks completed inside it, and the chain's state after it.</summary>
    private sealed record EngineBlock(ulong[] RouterHashes, ulong RouterTail, int[] Pending);
}
