using Gorgo.Routing.Decisions;

namespace Gorgo.Routing.Policies;

/// <summary>A policy's pick: the chosen candidate index and the runner-up's (-1 when there is none).</summary>
public readonly record struct PolicyChoice(int Chosen, int RunnerUp);

/// <summary>What a policy may know about the request besides its candidates.</summary>
/// <param name="PromptTokens">Prompt length in tokens.</param>
/// <param name="ClientRegion">The client's region when known (a proxy's clients are not in its region).</param>
public readonly record struct PolicyContext(int PromptTokens, string? ClientRegion = null);

/// <summary>A routing policy: picks one of the scored candidates.</summary>
/// <remarks>
/// Candidates arrive fully scored (matched tokens, load, estimated TTFT), so a policy is only an ordering rule.
/// Policies may keep state (a round-robin counter, a seeded random source) and are not thread-safe: one router
/// calls one policy instance under its lock.
/// </remarks>
public interface IRoutingPolicy
{
    /// <summary>The policy's name, as selected in configuration.</summary>
    string Name { get; }

    /// <summary>Whether the policy ranks by estimated TTFT, so that a node may relay on the estimates (<see cref="Router.RouteOnArrival"/>).</summary>
    bool RanksByEstimate => false;

    /// <summary>Chooses among <paramref name="candidates"/>, which is never empty.</summary>
    PolicyChoice Choose(ReadOnlySpan<CandidateScore> candidates, in PolicyContext context);
}
