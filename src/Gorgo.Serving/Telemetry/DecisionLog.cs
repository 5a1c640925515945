namespace Gorgo.Serving.Telemetry;

/// <summary>The last requests a front door routed, newest first, for its status page (thread-safe, fixed size).</summary>
public sealed class DecisionLog
{
    private readonly DecisionEntry?[] _ring;
    private readonly object _gate = new();
    private long _next;

    /// <summary>Creates a log keeping the last <paramref name="capacity"/> entries.</summary>
    public DecisionLog(int capacity = 50)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new DecisionEntry?[capacity];
    }

    /// <summary>How many entries it keeps.</summary>
    public int Capacity => _ring.Length;

    /// <summary>Adds a request's entry (filled in as the request goes on), evicting the oldest.</summary>
    public void Add(DecisionEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        lock (_gate)
        {
            _ring[_next++ % _ring.Length] = entry;
        }
    }

    /// <summary>The entries, newest first.</summary>
    public IReadOnlyList<DecisionEntry> Snapshot()
    {
        lock (_gate)
        {
            int count = (int)Math.Min(_next, _ring.Length);
            var entries = new DecisionEntry[count];
            for (int i = 0; i < count; i++)
            {
                entries[i] = _ring[(_next - 1 - i) % _ring.Length]!;
            }

            return entries;
        }
    }
}

/// <summary>One routed request as the status page shows it: the decision, then its outcome once known.</summary>
public sealed class DecisionEntry
{
    /// <summary>The front door's request id.</summary>
    public required long RequestId { get; init; }

    /// <summary>When it was decided (Unix ms).</summary>
    public required long AtUnixMs { get; init; }

    /// <summary>The policy that chose.</summary>
    public required string Policy { get; init; }

    /// <summary>The client's region, when the client named it.</summary>
    public string? ClientRegion { get; init; }

    /// <summary>Prompt tokens.</summary>
    public required int PromptTokens { get; init; }

    /// <summary>Prompt tokens believed cached on the chosen replica.</summary>
    public required int MatchedTokens { get; init; }

    /// <summary>The chosen replica.</summary>
    public required string Replica { get; init; }

    /// <summary>The chosen replica's region.</summary>
    public required string ReplicaRegion { get; init; }

    /// <summary>The estimated TTFT of the chosen replica, ms.</summary>
    public required double EstimatedTtftMs { get; init; }

    /// <summary>Age of the chosen replica's state when deciding, ms.</summary>
    public required double StateAgeMs { get; init; }

    /// <summary>How the node knew the chosen replica's cache: <c>decisions</c>, <c>exact</c> (engine KV events) or <c>approximate</c> (events lost).</summary>
    public string CacheView { get; init; } = "decisions";

    /// <summary>The chosen replica's calibrated gain on the model's queue term when calibration shaped the estimate; null otherwise.</summary>
    public double? CalibrationQueueGain { get; init; }

    /// <summary>The chosen replica's calibrated gain on the model's prefill term when calibration shaped the estimate; null otherwise.</summary>
    public double? CalibrationPrefillGain { get; init; }

    /// <summary>The chosen replica's calibrated fixed overhead (ms) when calibration shaped the estimate; null otherwise.</summary>
    public double? CalibrationOverheadMs { get; init; }

    /// <summary>The chosen replica's region's learned transit allowance (ms) in the estimate, when the replica was remote and the allowance above 0; null otherwise.</summary>
    public double? TransitAllowanceMs { get; init; }

    /// <summary>The replica that served (differs from <see cref="Replica"/> after a retry); null until the first token.</summary>
    public string? ServedBy { get; set; }

    /// <summary>TTFT as the ingress saw it (client leg included as the estimate includes it), ms; null until the first token.</summary>
    public double? TtftMs { get; set; }

    /// <summary><c>ok</c>, <c>client_error</c>, <c>server_error</c>, <c>rejected</c> or <c>cancelled</c>; null while in flight.</summary>
    public string? Outcome { get; set; }
}
