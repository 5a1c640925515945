using Gorgo.Routing.Hashing;

namespace Gorgo.Routing;

/// <summary>One request to route: its prompt blocks and what else the router may use.</summary>
/// <param name="Prompt">The prompt's token count and block hashes.</param>
/// <param name="Model">Requested model; null routes over every model.</param>
/// <param name="ClientRegion">The client's region when known (adds the client leg to the network term).</param>
/// <param name="MaxOutputTokens">Requested output length (used to skip replicas whose context is too short); 0 when unknown.</param>
/// <param name="RequestId">Caller's request id, copied into the decision.</param>
public readonly record struct RoutingRequest(
    PromptBlocks Prompt,
    string? Model = null,
    string? ClientRegion = null,
    int MaxOutputTokens = 0,
    long RequestId = 0);
