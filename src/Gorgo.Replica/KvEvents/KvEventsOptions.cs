using Gorgo.Routing.Options;

namespace Gorgo.Replica.KvEvents;

/// <summary>Where an engine publishes its KV events (vLLM's and SGLang's <c>--kv-events-config</c>, seen from the router).</summary>
public sealed record KvEventsOptions
{
    /// <summary>The engine's PUB socket, e.g. <c>tcp://10.0.0.5:5557</c>.</summary>
    public string Endpoint { get; init; } = string.Empty;

    /// <summary>The topic prefix subscribed to (vLLM's default: empty, every topic).</summary>
    public string Topic { get; init; } = string.Empty;

    /// <summary>The engine's ROUTER socket that replays missed batches, e.g. <c>tcp://10.0.0.5:5558</c>; null: gaps cannot be repaired.</summary>
    public string? ReplayEndpoint { get; init; }

    /// <summary>How long a replay may take, ms, before the view is declared approximate.</summary>
    public int ReplayTimeoutMs { get; init; } = 2_000;

    /// <summary><see cref="ReplayTimeoutMs"/> as a time span.</summary>
    public TimeSpan ReplayTimeout => TimeSpan.FromMilliseconds(ReplayTimeoutMs);

    /// <summary>Problems with these options, empty when valid; <paramref name="who"/> names them in messages.</summary>
    public IReadOnlyList<string> Validate(string who = "kvEvents") => new OptionsErrors()
        .Check(IsTcpEndpoint(Endpoint), $"{who}.endpoint must be a ZeroMQ tcp address such as tcp://host:5557 (got '{Endpoint}').")
        .Check(ReplayEndpoint is null || IsTcpEndpoint(ReplayEndpoint), $"{who}.replayEndpoint must be a ZeroMQ tcp address such as tcp://host:5558 (got '{ReplayEndpoint}').")
        .Check(ReplayTimeoutMs is >= 1 and <= 60_000, $"{who}.replayTimeoutMs must be between 1 and 60000 (got {ReplayTimeoutMs}).")
        .Errors;

    /// <summary>Whether <paramref name="endpoint"/> is <c>tcp://host:port</c> with a port (or <c>*</c> when binding).</summary>
    public static bool IsTcpEndpoint(string? endpoint)
    {
        if (string.IsNullOrWhiteSpace(endpoint) || !endpoint.StartsWith("tcp://", StringComparison.Ordinal))
        {
            return false;
        }

        int colon = endpoint.LastIndexOf(':');
        return colon > "tcp://".Length && (endpoint[(colon + 1)..] == "*" || int.TryParse(endpoint[(colon + 1)..], out int port) && port is >= 0 and <= 65535);
    }
}
