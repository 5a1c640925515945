using Gorgo.Routing.Options;

namespace Gorgo.Replica.Server;

/// <summary>Settings of an emulated replica server (<c>gorgo replica</c>).</summary>
public sealed record ReplicaServerOptions
{
    /// <summary>Address to listen on.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to listen on (0 picks a free one).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>The model name clients must ask for.</summary>
    public string Model { get; init; } = "llama-3-8b";

    /// <summary>Engine profile: a shipped name (h100-8b, a100-7b) or a JSON file.</summary>
    public string Profile { get; init; } = "h100-8b";

    /// <summary>Output length when a chat request gives no <c>max_tokens</c> (the emulator has no end-of-sequence token).</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>Relative standard deviation of step times (0 = exactly the profile).</summary>
    public double StepJitter { get; init; }

    /// <summary>Seed of the step-time jitter.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Where the engine publishes its KV events (ZeroMQ PUB, e.g. <c>tcp://*:5557</c>), or null for none.</summary>
    public string? KvEventsEndpoint { get; init; }

    /// <summary>Where the engine replays missed KV event batches (ZeroMQ ROUTER, e.g. <c>tcp://*:5558</c>), or null for none.</summary>
    public string? KvEventsReplayEndpoint { get; init; }

    /// <summary>The topic frame of every KV event message.</summary>
    public string KvEventsTopic { get; init; } = string.Empty;

    /// <summary>Path of the model's Hugging Face <c>tokenizer.json</c> (byte-level BPE), or null for cl100k_base.</summary>
    public string? Tokenizer { get; init; }

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(!string.IsNullOrWhiteSpace(Host), "host is required.")
        .Check(Port is >= 0 and <= 65535, $"port must be between 0 and 65535 (got {Port}).")
        .Check(!string.IsNullOrWhiteSpace(Model), "model is required.")
        .Check(!string.IsNullOrWhiteSpace(Profile), "profile is required.")
        .Check(DefaultMaxTokens >= 1, $"default max tokens must be at least 1 (got {DefaultMaxTokens}).")
        .Check(double.IsFinite(StepJitter) && StepJitter is >= 0 and <= 0.5, $"step jitter must be between 0 and 0.5 (got {StepJitter}).")
        .Check(KvEventsEndpoint is null || KvEvents.KvEventsOptions.IsTcpEndpoint(KvEventsEndpoint), $"kv events endpoint must be a ZeroMQ tcp address such as tcp://*:5557 (got '{KvEventsEndpoint}').")
        .Check(KvEventsReplayEndpoint is null || KvEvents.KvEventsOptions.IsTcpEndpoint(KvEventsReplayEndpoint), $"kv events replay endpoint must be a ZeroMQ tcp address such as tcp://*:5558 (got '{KvEventsReplayEndpoint}').")
        .Check(KvEventsReplayEndpoint is null || KvEventsEndpoint is not null, "a kv events replay endpoint needs a kv events endpoint.")
        .Check(Tokenizer is null || File.Exists(Tokenizer), $"tokenizer file '{Tokenizer}' does not exist.")
        .Errors;
}
