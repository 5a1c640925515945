namespace Gorgo.Routing.Fleet;

/// <summary>An immutable snapshot of one replica's identity, health, load and capacity, stamped with when it was taken.</summary>
public sealed record ReplicaView
{
    /// <summary>Unique replica id across the fleet.</summary>
    public required string Id { get; init; }

    /// <summary>Region the replica runs in (a name in the RTT matrix).</summary>
    public required string Region { get; init; }

    /// <summary>Model served, as clients name it.</summary>
    public required string Model { get; init; }

    /// <summary>Health at <see cref="TakenAtMs"/>.</summary>
    public ReplicaHealth Health { get; init; } = ReplicaHealth.Healthy;

    /// <summary>Requests in the running batch.</summary>
    public int RunningRequests { get; init; }

    /// <summary>Requests waiting for a batch slot.</summary>
    public int QueuedRequests { get; init; }

    /// <summary>Prompt tokens of running requests.</summary>
    public long RunningTokens { get; init; }

    /// <summary>
    /// Prompt tokens of running requests not yet prefilled, when the replica reports it (null otherwise). When known,
    /// the cost model charges exactly this remaining prefill instead of the paper's q̂ × running tokens.
    /// </summary>
    public long? RunningPrefillTokens { get; init; }

    /// <summary>Prompt tokens of queued requests.</summary>
    public long QueuedTokens { get; init; }

    /// <summary>
    /// How long a request holds a batch slot after its first token (its decode time), averaged over the replica's recent
    /// requests, in ms; null when the replica does not report it. When known, the cost model forecasts the wait for a
    /// batch slot behind a full batch (see <see cref="Cost.CostModel"/>).
    /// </summary>
    public double? DecodeMsPerRequest { get; init; }

    /// <summary>
    /// How long one decode step takes (the gap between a request's tokens), ms; null when the replica does not report it.
    /// Before the replica knows <see cref="DecodeMsPerRequest"/> (nothing has finished yet), the router forecasts the
    /// batch-slot wait with a request's output length times this step.
    /// </summary>
    public double? DecodeStepMs { get; init; }

    /// <summary>Fraction of KV-cache blocks in use, 0 to 1.</summary>
    public double KvCacheUtilization { get; init; }

    /// <summary>Prefill cost t_p in milliseconds per uncached prompt token (0.094 for Mistral-7B on an A100 in the paper).</summary>
    public double PrefillMsPerToken { get; init; } = 0.094;

    /// <summary>Cap on running requests (the engine's batch size limit).</summary>
    public int MaxRunningRequests { get; init; } = 64;

    /// <summary>Cap on queued requests before the replica refuses work; 0 means unbounded.</summary>
    public int MaxQueuedRequests { get; init; }

    /// <summary>Longest prompt plus output the model accepts, in tokens; 0 means unknown.</summary>
    public int MaxContextTokens { get; init; }

    /// <summary>When the snapshot was taken, in milliseconds on the router's clock (Unix epoch).</summary>
    public long TakenAtMs { get; init; }

    /// <summary>Whether routing may choose this replica at all.</summary>
    public bool IsRoutable => Health is ReplicaHealth.Healthy or ReplicaHealth.Degraded;

    /// <summary>Problems with this view, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        // Checked on every upsert (hot in the simulator and under gossip), so messages are only built for failures.
        List<string>? errors = null;
        for (int check = 0; check < CheckCount; check++)
        {
            if (Problem(check) is { } problem)
            {
                string who = string.IsNullOrEmpty(Id) ? "replica" : $"replica '{Id}'";
                (errors ??= []).Add($"{who}: {problem}");
            }
        }

        return errors ?? (IReadOnlyList<string>)[];
    }

    private const int CheckCount = 16;

    /// <summary>What is wrong with the view under check number <paramref name="check"/>, or null when that check passes.</summary>
    private string? Problem(int check) => check switch
    {
        0 when string.IsNullOrWhiteSpace(Id) => "id is empty.",
        1 when string.IsNullOrWhiteSpace(Region) => "region is empty.",
        2 when string.IsNullOrWhiteSpace(Model) => "model is empty.",
        3 when Health is not (ReplicaHealth.Healthy or ReplicaHealth.Degraded or ReplicaHealth.Draining or ReplicaHealth.Unhealthy) => $"health {(int)Health} is not a known value.",
        4 when RunningRequests < 0 => $"running requests cannot be negative (got {RunningRequests}).",
        5 when QueuedRequests < 0 => $"queued requests cannot be negative (got {QueuedRequests}).",
        6 when RunningTokens < 0 => $"running tokens cannot be negative (got {RunningTokens}).",
        7 when RunningPrefillTokens < 0 => $"running prefill tokens cannot be negative (got {RunningPrefillTokens}).",
        8 when QueuedTokens < 0 => $"queued tokens cannot be negative (got {QueuedTokens}).",
        9 when !(double.IsFinite(KvCacheUtilization) && KvCacheUtilization is >= 0 and <= 1) => $"KV-cache utilisation must be between 0 and 1 (got {KvCacheUtilization}).",
        10 when !(double.IsFinite(PrefillMsPerToken) && PrefillMsPerToken > 0) => $"prefill ms per token must be a positive finite number (got {PrefillMsPerToken}).",
        11 when MaxRunningRequests < 1 => $"max running requests must be at least 1 (got {MaxRunningRequests}).",
        12 when MaxQueuedRequests < 0 => $"max queued requests cannot be negative (got {MaxQueuedRequests}).",
        13 when MaxContextTokens < 0 => $"max context tokens cannot be negative (got {MaxContextTokens}).",
        14 when DecodeMsPerRequest is { } decode && !(double.IsFinite(decode) && decode >= 0) => $"decode ms per request must be a finite number, not negative (got {decode}).",
        15 when DecodeStepMs is { } step && !(double.IsFinite(step) && step >= 0) => $"decode step ms must be a finite number, not negative (got {step}).",
        _ => null,
    };

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when the view is invalid.</summary>
    public ReplicaView EnsureValid()
    {
        IReadOnlyList<string> errors = Validate();
        return errors.Count == 0 ? this : throw new ArgumentException(string.Join(" ", errors));
    }
}
