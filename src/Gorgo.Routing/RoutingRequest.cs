using System.ComponentModel;
using System.Text.Json.Serialization;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Options;

namespace Gorgo.Routing;

/// <summary>One request to route: its prompt blocks and what else the router may use.</summary>
/// <param name="Prompt">The prompt's token count and block hashes.</param>
/// <param name="Model">Requested model; null routes over every model.</param>
/// <param name="ClientRegion">The client's region when known (adds the client leg to the network term).</param>
/// <param name="MaxOutputTokens">Requested output length (used to skip replicas whose context is too short); 0 when unknown.</param>
/// <param name="RequestId">Caller's request id, copied into the decision.</param>
/// <param name="Scope">Which replicas may be chosen: all, home only, or home unless every home replica is saturated.</param>
/// <param name="RequireFreeSlot">Only replicas with a free batch slot (running plus queued below their cap) may be chosen: the proxy's late binding.</param>
/// <param name="MaxKvUtilization">Only replicas whose KV-cache use is below this may be chosen (the proxy's 0.95 gate; infinity: no gate).</param>
/// <param name="OwnRendering">
/// The prompt's tokens are the router's own rendering (a chat prompt through its template), not what the engine will
/// tokenize: an engine's KV events cannot describe them, so the router learns them from its decision even for a
/// replica whose cache view is exact.
/// </param>
public readonly record struct RoutingRequest(
    PromptBlocks Prompt,
    string? Model = null,
    string? ClientRegion = null,
    int MaxOutputTokens = 0,
    long RequestId = 0,
    RoutingScope Scope = RoutingScope.Global,
    bool RequireFreeSlot = false,
    double MaxKvUtilization = double.PositiveInfinity,
    bool OwnRendering = false);

/// <summary>Which replicas a request may go to.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<RoutingScope>))]
[TypeConverter(typeof(EnumNameTypeConverter<RoutingScope>))]
public enum RoutingScope
{
    /// <summary>Any eligible replica in any region (<c>global</c>).</summary>
    Global,

    /// <summary>Only replicas in the router's own region (<c>home-only</c>).</summary>
    HomeOnly,

    /// <summary>
    /// Home replicas while one of them has a free batch slot; once all are full, one hop to the best of the other
    /// regions' by the policy's own ranking (<c>local-first</c>: the paper's distributed routers, and the mesh's
    /// <c>local-only</c> setting).
    /// </summary>
    LocalFirst,
}
