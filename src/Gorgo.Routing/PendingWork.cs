namespace Gorgo.Routing;

/// <summary>Requests a router sent to one replica that the replica's last load report does not reflect yet.</summary>
/// <remarks>
/// A request counts from the moment it is routed until a report taken after it reached the replica (routed time plus
/// the one-way network delay) arrives, or until a timeout. This stops a burst from piling onto one replica between
/// load reports without double counting once the report includes the request. A mutable struct held in the router's
/// candidate array (use it by reference): the count, the tokens and the oldest entry sit inline, so the common case,
/// nothing pending, reads no other object. Not thread-safe.
/// </remarks>
internal struct PendingWork
{
    private Queue<Entry>? _later; // entries after the head, in routing order
    private Entry _head;

    public int Count { readonly get; private set; }

    public long Tokens { readonly get; private set; }

    public void Add(long tokens, long arrivesAtMs, long expiresAtMs)
    {
        var entry = new Entry(tokens, arrivesAtMs, expiresAtMs);
        if (Count == 0)
        {
            _head = entry;
        }
        else
        {
            (_later ??= new Queue<Entry>()).Enqueue(entry);
        }

        Count++;
        Tokens += tokens;
    }

    /// <summary>Drops entries a report taken at <paramref name="reportTakenAtMs"/> reflects, and expired ones.</summary>
    public void Prune(long reportTakenAtMs, long nowMs)
    {
        // Entries are in routing order with (nearly) one network delay and one timeout, so pruning from the head suffices.
        while (Count > 0 && (_head.ArrivesAtMs <= reportTakenAtMs || _head.ExpiresAtMs <= nowMs))
        {
            Tokens -= _head.Tokens;
            Count--;
            _head = Count > 0 ? _later!.Dequeue() : default;
        }
    }

    /// <summary>Adds every entry, as a <see cref="PendingRequest"/> to <paramref name="replicaId"/>, to <paramref name="into"/>.</summary>
    public readonly void CopyTo(string replicaId, List<PendingRequest> into)
    {
        if (Count == 0)
        {
            return;
        }

        into.Add(new PendingRequest(replicaId, _head.ArrivesAtMs, _head.Tokens));
        if (_later is not null)
        {
            foreach (Entry e in _later)
            {
                into.Add(new PendingRequest(replicaId, e.ArrivesAtMs, e.Tokens));
            }
        }
    }

    private readonly record struct Entry(long Tokens, long ArrivesAtMs, long ExpiresAtMs);
}

/// <summary>A request a router sent to a replica that the replica's last load report (as that router saw it) did not reflect yet: what routers tell each other so that none piles onto a replica the others are already filling.</summary>
/// <param name="ReplicaId">Where it went.</param>
/// <param name="ArrivesAtMs">When it reaches the replica (Unix ms, the sending router's clock): a load report taken later reflects it.</param>
/// <param name="Tokens">Its prompt tokens the replica has to prefill.</param>
public readonly record struct PendingRequest(string ReplicaId, long ArrivesAtMs, long Tokens);

/// <summary>
/// Requests other routers sent to one replica that this router's view of it does not reflect yet, as those routers
/// last told: each router's list replaces its previous one; an entry goes when a report taken after its arrival is in,
/// or after the pending timeout. A mutable struct held in the router's candidate array (use it by reference). Not thread-safe.
/// </summary>
internal struct PeerPendingWork
{
    private List<Entry>? _entries;

    public int Count { readonly get; private set; }

    public long Tokens { readonly get; private set; }

    /// <summary>Drops <paramref name="origin"/>'s entries (the router it came from, by index).</summary>
    public void Clear(int origin)
    {
        if (_entries is null || _entries.Count == 0)
        {
            return;
        }

        _entries.RemoveAll(e => e.Origin == origin);
        Recount();
    }

    public void Add(int origin, long tokens, long arrivesAtMs)
    {
        (_entries ??= []).Add(new Entry(origin, tokens, arrivesAtMs));
        Count++;
        Tokens += tokens;
    }

    /// <summary>Drops entries a report taken at <paramref name="reportTakenAtMs"/> reflects, and those that arrived more than <paramref name="timeoutMs"/> ago.</summary>
    public void Prune(long reportTakenAtMs, long nowMs, double timeoutMs)
    {
        if (Count == 0)
        {
            return;
        }

        List<Entry> entries = _entries!;
        int kept = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            Entry e = entries[i];
            if (e.ArrivesAtMs > reportTakenAtMs && e.ArrivesAtMs + timeoutMs > nowMs)
            {
                entries[kept++] = e;
            }
        }

        if (kept < entries.Count)
        {
            entries.RemoveRange(kept, entries.Count - kept);
            Recount();
        }
    }

    private void Recount()
    {
        Count = _entries!.Count;
        long tokens = 0;
        foreach (Entry e in _entries)
        {
            tokens += e.Tokens;
        }

        Tokens = tokens;
    }

    private readonly record struct Entry(int Origin, long Tokens, long ArrivesAtMs);
}
