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

    private readonly record struct Entry(long Tokens, long ArrivesAtMs, long ExpiresAtMs);
}
