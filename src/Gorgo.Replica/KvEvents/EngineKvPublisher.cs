using System.Threading.Channels;
using Gorgo.Engine.Model;
using Gorgo.Replica.Hosting;

namespace Gorgo.Replica.KvEvents;

/// <summary>
/// Publishes an emulated engine's cache events as vLLM does: each step's stores and evictions become one
/// <see cref="KvEventBatch"/> on a <see cref="KvEventPublisher"/>, with <c>BlockStored</c> carrying the blocks' token
/// ids and parent hash. The engine knows blocks by hash only, so the replica tells this publisher each prompt's
/// tokens when it submits it (<see cref="Remember"/>).
/// </summary>
public sealed class EngineKvPublisher : IDisposable
{
    /// <summary>A remembered block not cached is forgotten after this long (its request was refused or cancelled).</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private readonly EngineHost _engine;
    private readonly int _blockSize;
    private readonly Dictionary<ulong, BlockTokens> _blocks = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private long _unknown;
    private long _nextPrune;

    /// <summary>Starts publishing <paramref name="engine"/>'s cache events on <paramref name="publisher"/> (which this object then owns).</summary>
    public EngineKvPublisher(EngineHost engine, KvEventPublisher publisher)
    {
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        Publisher = publisher ?? throw new ArgumentNullException(nameof(publisher));
        _blockSize = engine.Profile.BlockSize;
        _nextPrune = 4L * engine.Profile.KvCapacityBlocks;
        ChannelReader<CacheEvent> events = engine.SubscribeCacheEvents();
        _pump = Task.Run(() => PumpAsync(events, _stop.Token));
    }

    /// <summary>The socket the events go out on.</summary>
    public KvEventPublisher Publisher { get; }

    /// <summary>Stored blocks that could not be published because their tokens were not remembered.</summary>
    public long UnknownBlocks => Interlocked.Read(ref _unknown);

    /// <summary>Remembers a prompt's tokens by block (<paramref name="hashes"/>: the chained hashes of its full blocks), before the engine may store them.</summary>
    public void Remember(ReadOnlySpan<int> tokens, ReadOnlySpan<ulong> hashes)
    {
        long now = Environment.TickCount64;
        lock (_gate)
        {
            for (int i = 0; i < hashes.Length; i++)
            {
                ref BlockTokens? entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_blocks, hashes[i], out bool existed);
                if (existed)
                {
                    entry!.RememberedAt = now;
                    continue;
                }

                entry = new BlockTokens(i == 0 ? null : hashes[i - 1], tokens.Slice(i * _blockSize, _blockSize).ToArray()) { RememberedAt = now };
            }

            if (_blocks.Count > _nextPrune)
            {
                Prune(now);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _pump.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Publisher.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>Turns every cache event available into one batch: runs of stored blocks of one chain into one <c>BlockStored</c>, removals into one <c>BlockRemoved</c>.</summary>
    internal KvEventBatch? ToBatch(IReadOnlyList<CacheEvent> events)
    {
        var batch = new List<KvEvent>();
        var hashes = new List<ulong>();
        var tokens = new List<int>();
        ulong? parent = null;
        var removed = new List<ulong>();
        void FlushStored()
        {
            if (hashes.Count > 0)
            {
                batch.Add(new KvBlockStored([.. hashes], parent, [.. tokens], _blockSize, null, null));
                hashes.Clear();
                tokens.Clear();
            }
        }

        void FlushRemoved()
        {
            if (removed.Count > 0)
            {
                batch.Add(new KvBlockRemoved([.. removed], null));
                removed.Clear();
            }
        }

        lock (_gate)
        {
            foreach (CacheEvent e in events)
            {
                if (e.Kind == CacheEventKind.Removed)
                {
                    FlushStored();
                    removed.Add(e.BlockHash);
                    continue;
                }

                FlushRemoved();
                if (!_blocks.TryGetValue(e.BlockHash, out BlockTokens? block))
                {
                    FlushStored();
                    Interlocked.Increment(ref _unknown);
                    continue;
                }

                if (hashes.Count > 0 && block.Parent != hashes[^1])
                {
                    FlushStored();
                }

                if (hashes.Count == 0)
                {
                    parent = block.Parent;
                }

                hashes.Add(e.BlockHash);
                tokens.AddRange(block.Tokens);
            }
        }

        FlushStored();
        FlushRemoved();
        return batch.Count == 0 ? null : new KvEventBatch(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0, batch);
    }

    private async Task PumpAsync(ChannelReader<CacheEvent> events, CancellationToken stop)
    {
        var pending = new List<CacheEvent>();
        try
        {
            while (await events.WaitToReadAsync(stop).ConfigureAwait(false))
            {
                while (events.TryRead(out CacheEvent e))
                {
                    pending.Add(e);
                }

                if (ToBatch(pending) is { } batch)
                {
                    Publisher.Publish(batch);
                }

                pending.Clear();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Forgets remembered blocks that are not cached and were last remembered over <see cref="ForgetAfter"/> ago.</summary>
    private void Prune(long now)
    {
        var cached = _engine.CachedBlocks().ToHashSet();
        long cutoff = now - (long)ForgetAfter.TotalMilliseconds;
        foreach ((ulong hash, BlockTokens block) in _blocks.ToArray())
        {
            if (block.RememberedAt < cutoff && !cached.Contains(hash))
            {
                _blocks.Remove(hash);
            }
        }

        _nextPrune = Math.Max(_nextPrune, 2L * _blocks.Count);
    }

    /// <summary>A block's tokens and its parent's hash.</summary>
    private sealed record BlockTokens(ulong? Parent, int[] Tokens)
    {
        public long RememberedAt { get; set; }
    }
}
