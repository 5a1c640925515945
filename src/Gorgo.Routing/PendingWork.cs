namespace Gorgo.Routing;

/// <summary>Requests a router sent to one replica that the replica's last load report does not reflect yet.</summary>
/// <remarks>
/// A request counts from the moment it is routed until a report taken after it reached the replica (routed time plus
/// the one-way network delay) arrives, or until a timeout. This stops a burst from piling onto one replica between
/// load reports without double counting once the report includes the request. Not thread-safe.
/// </remarks>
internal sealed class PendingWork
{
    private readonly Queue<Entry> _entries = new();

    public int Count => _entries.Count;

    public long Tokens { get; private set; }

    public void Add(long tokens, long arrivesAtMs, long expiresAtMs)
    {
        _entries.Enqueue(new Entry(tokens, arrivesAtMs, expiresAtMs));
        Tokens += tokens;
    }

    /// <summary>Drops entries a report taken at <paramref name="reportTakenAtMs"/> reflects, and expired ones.</summary>
    public void Prune(long reportTakenAtMs, long nowMs)
    {
        // Entries are in routing order with (nearly) one network delay and one timeout, so pruning from the head suffices.
        while (_entries.TryPeek(out Entry head) && (head.ArrivesAtMs <= reportTakenAtMs || head.ExpiresAtMs <= nowMs))
        {
            _entries.Dequeue();
            Tokens -= head.Tokens;
        }
    }

    public void Clear()
    {
        _entries.Clear();
        Tokens = 0;
    }

    private readonly record struct Entry(long Tokens, long ArrivesAtMs, long ExpiresAtMs);
}
