namespace Gorgo.Scenarios.Results;

/// <summary>What one request of a run experienced, as measured at the client (live) or in virtual time (simulated).</summary>
public sealed record RequestRecord
{
    /// <summary>Run name.</summary>
    public required string Run { get; init; }

    /// <summary>Request index in the workload.</summary>
    public required int Index { get; init; }

    /// <summary>The client's region.</summary>
    public required string UserRegion { get; init; }

    /// <summary>Scheduled send time, ms from the run's start.</summary>
    public double ArrivalMs { get; init; }

    /// <summary>HTTP status (0 when no response arrived).</summary>
    public int Status { get; init; }

    /// <summary>Whether the response finished normally.</summary>
    public bool Completed { get; init; }

    /// <summary>Time to the first generated token, ms (null when none arrived).</summary>
    public double? TtftMs { get; init; }

    /// <summary>Time to the end of the response (also of a failed one, when the client saw it end), ms.</summary>
    public double? E2eMs { get; init; }

    /// <summary>Prompt tokens.</summary>
    public int PromptTokens { get; init; }

    /// <summary>Prompt tokens the serving replica had cached (usage.prompt_tokens_details.cached_tokens).</summary>
    public int CachedTokens { get; init; }

    /// <summary>Generated tokens.</summary>
    public int OutputTokens { get; init; }

    /// <summary>Region that served it.</summary>
    public string? ServedRegion { get; init; }

    /// <summary>Replica that served it.</summary>
    public string? Replica { get; init; }

    /// <summary>The router's estimated TTFT, ms.</summary>
    public double? EstimatedTtftMs { get; init; }

    /// <summary>Prompt tokens the router believed cached on the chosen replica.</summary>
    public int? MatchedTokens { get; init; }

    /// <summary>Age of the chosen replica's state at decision time, ms.</summary>
    public double? StateAgeMs { get; init; }

    /// <summary>Whether the decision overrode an idle home replica, as the router saw it (see <c>x-gorgo-home-idle-override</c>).</summary>
    public bool? HomeIdleOverride { get; init; }

    /// <summary>The least TTFT forecast from the true engine states, when the request reached its ingress, over every replica its deployment could send it to; null where engines cannot be forecast (live HTTP replicas).</summary>
    public double? BestForecastTtftMs { get; init; }

    /// <summary>The same over the replicas of the client's region; null when not forecast or the region has none.</summary>
    public double? BestHomeForecastTtftMs { get; init; }

    /// <summary>Realized TTFT minus the best forecast TTFT (null when either is missing).</summary>
    public double? RegretMs => TtftMs is { } ttft && BestForecastTtftMs is { } best ? ttft - best : null;

    /// <summary>Whether it was served in another region and took longer than the best home replica was forecast to take (null when not forecast).</summary>
    public bool? HarmfulForward => !Completed || BestForecastTtftMs is null ? null : CrossRegion && BestHomeForecastTtftMs is { } home && TtftMs > home;

    /// <summary>Why it failed.</summary>
    public string? Error { get; init; }

    /// <summary>How the response ended, when the client observed it (live runs); otherwise derived from <see cref="Completed"/> and <see cref="Status"/>.</summary>
    public StreamEnding? Ending { get; init; }

    /// <summary>How the response ended: <see cref="Ending"/>, or done when completed, refused with a status, no response without one.</summary>
    public StreamEnding EffectiveEnding => Ending ?? (Completed ? StreamEnding.Done : Status == 0 ? StreamEnding.NoResponse : StreamEnding.Refused);

    /// <summary>Replicas the front door tried before the first token (<c>x-gorgo-attempts</c>); null when not reported.</summary>
    public int? Attempts { get; init; }

    /// <summary>The region of the node (or proxy) the client's request entered through: its own region's node unless that one refused the connection or was draining and the client moved on.</summary>
    public string? EntryRegion { get; init; }

    /// <summary>Replicas tried and failed before the one that served it (<c>x-gorgo-tried</c>), separated by <c>;</c>; null when none.</summary>
    public string? Tried { get; init; }

    /// <summary>The replicas tried and failed before the serving one.</summary>
    public IEnumerable<string> TriedReplicas => Tried is null ? [] : Tried.Split(';', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>When its response ended (or it gave up), ms from the run's start; null when unknown.</summary>
    public double? EndMs => E2eMs is { } e2e ? ArrivalMs + e2e : null;

    /// <summary>Whether it was served outside the client's region.</summary>
    public bool CrossRegion => ServedRegion is not null && ServedRegion != UserRegion;
}
