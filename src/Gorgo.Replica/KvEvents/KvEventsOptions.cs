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

    /// <summary>How long a replay may take before the view is declared approximate.</summary>
    public TimeSpan ReplayTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Problems with these options, empty when valid; <paramref name="who"/> names them in messages.</summary>
    public IReadOnlyList<string> Validate(string who = "kvEvents") => new OptionsErrors()
        .Check(IsTcpEndpoint(Endpoint), $"{who}.endpoint must be a ZeroMQ tcp address such as tcp://host:5557 (got '{Endpoint}').")
        .Check(ReplayEndpoint is null || IsTcpEndpoint(ReplayEndpoint), $"{who}.replayEndpoint must be a ZeroMQ tcp address such as tcp://host:5558 (got '{ReplayEndpoint}').")
        .Check(ReplayTimeout > TimeSpan.Zero, $"{who}.replayTimeout must be positive (got {ReplayTimeout}).")
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
