namespace Gorgo.Routing.Cost;

/// <summary>An estimated time to first token in milliseconds and the terms it is made of.</summary>
public readonly struct TtftEstimate : IEquatable<TtftEstimate>
{
    /// <summary>Creates an estimate; the total is the sum of the terms.</summary>
    public TtftEstimate(double networkMs, double queueMs, double prefillMs, double overheadMs)
    {
        NetworkMs = networkMs;
        QueueMs = queueMs;
        PrefillMs = prefillMs;
        OverheadMs = overheadMs;
        TotalMs = networkMs + queueMs + prefillMs + overheadMs;
    }

    /// <summary>RTT from the deciding region to the replica's region, plus the client's leg when known.</summary>
    public double NetworkMs { get; }

    /// <summary>Time to drain the work ahead: t_p × (queued tokens + q̂ × running tokens), or the wait for a batch slot when longer.</summary>
    public double QueueMs { get; }

    /// <summary>Prefill of the prompt tokens not in the replica's prefix cache: t_p × uncached tokens.</summary>
    public double PrefillMs { get; }

    /// <summary>Fixed per-request overhead plus any health penalty and, for a remote replica, its region's learned transit allowance.</summary>
    public double OverheadMs { get; }

    /// <summary>The estimated TTFT: the sum of the terms.</summary>
    public double TotalMs { get; }

    /// <summary>What the estimate expects of the engine: the TTFT less the network (queue, prefill and overhead).</summary>
    public double EngineMs => TotalMs - NetworkMs;

    /// <inheritdoc />
    public bool Equals(TtftEstimate other) =>
        NetworkMs.Equals(other.NetworkMs) && QueueMs.Equals(other.QueueMs) && PrefillMs.Equals(other.PrefillMs) && OverheadMs.Equals(other.OverheadMs);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TtftEstimate other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(NetworkMs, QueueMs, PrefillMs, OverheadMs);

    /// <inheritdoc />
    public override string ToString() =>
        FormattableString.Invariant($"{TotalMs:F1} ms (network {NetworkMs:F1} + queue {QueueMs:F1} + prefill {PrefillMs:F1} + overhead {OverheadMs:F1})");

    /// <summary>Equality of all terms.</summary>
    public static bool operator ==(TtftEstimate left, TtftEstimate right) => left.Equals(right);

    /// <summary>Inequality of any term.</summary>
    public static bool operator !=(TtftEstimate left, TtftEstimate right) => !left.Equals(right);
}
