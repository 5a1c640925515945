using System.Text.Json;
using System.Text.Json.Serialization;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Policies;
using Gorgo.Routing.Tokens;

namespace Gorgo.Cli.Route;

/// <summary>A JSON description of a fleet (replicas, their load and cached prompts, and RTTs) for <c>gorgo route</c>.</summary>
public sealed record FleetStateFile
{
    /// <summary>The deciding router's region.</summary>
    public string? Region { get; init; }

    /// <summary>Tokens per hashed block (default 16).</summary>
    public int BlockSize { get; init; } = BlockHasher.DefaultBlockSize;

    /// <summary>RTT in ms: <c>{"from": {"to": ms}}</c>; a missing direction takes the reverse value.</summary>
    public Dictionary<string, Dictionary<string, double>> Rtt { get; init; } = [];

    /// <summary>RTT used inside a region when the file does not give one.</summary>
    public double IntraRegionRttMs { get; init; } = 1.0;

    /// <summary>The replicas.</summary>
    public List<ReplicaEntry> Replicas { get; init; } = [];

    /// <summary>Policy settings (the name can be overridden on the command line).</summary>
    public PolicyOptions? Policy { get; init; }

    /// <summary>Cost model settings.</summary>
    public CostModelOptions? Cost { get; init; }

    /// <summary>How the file is read: case-insensitive names, comments and trailing commas allowed, unknown fields rejected.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>Reads and parses a state file; throws <see cref="FleetStateException"/> with the file, line and reason.</summary>
    public static FleetStateFile Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FleetStateException($"Cannot read state file '{path}': {ex.Message}", ex);
        }

        try
        {
            FleetStateFile state = JsonSerializer.Deserialize<FleetStateFile>(json, JsonOptions)
                ?? throw new FleetStateException($"State file '{path}' is empty (null).");
            return state with { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path)) };
        }
        catch (JsonException ex)
        {
            string where = ex.LineNumber is { } line ? $" (line {line + 1}, {ex.Path})" : string.Empty;
            throw new FleetStateException($"State file '{path}' is not valid{where}: {ex.Message}", ex);
        }
    }

    /// <summary>Directory relative paths in the file resolve against (the file's own directory).</summary>
    [JsonIgnore]
    public string? BaseDirectory { get; init; }

    /// <summary>Builds a router for this fleet with the given policy, records each replica's cached prompts, and returns it.</summary>
    public Router BuildRouter(PromptEncoder encoder, string? policyName, string? regionOverride, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        string region = regionOverride ?? Region ?? throw new FleetStateException("No deciding region: set \"region\" in the state file or pass --region.");
        if (encoder.Hasher.BlockSize != BlockSize)
        {
            throw new FleetStateException($"The encoder hashes {encoder.Hasher.BlockSize}-token blocks but the state file says blockSize {BlockSize}.");
        }

        if (Replicas.Count == 0)
        {
            throw new FleetStateException("The state file lists no replicas.");
        }

        RttMatrix rtt = BuildRtt();
        PolicyOptions policy = (Policy ?? new PolicyOptions()) with { Name = policyName ?? Policy?.Name ?? PolicyCatalog.Gorgo };
        Router router;
        try
        {
            router = new Router(
                new RouterOptions { Region = region, BlockSize = BlockSize, Policy = policy, Cost = Cost ?? new CostModelOptions() },
                rtt,
                clock);
        }
        catch (ArgumentException ex)
        {
            throw new FleetStateException(ex.Message, ex);
        }

        long now = router.NowMs;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (ReplicaEntry entry in Replicas)
        {
            if (!seen.Add(entry.Id ?? string.Empty))
            {
                throw new FleetStateException($"Replica id '{entry.Id}' appears twice.");
            }

            try
            {
                router.Upsert(entry.ToView(now));
                foreach (string text in entry.CachedPromptTexts(BaseDirectory))
                {
                    router.RecordCached(entry.Id!, encoder.Encode(text).Hashes.Span);
                }
            }
            catch (ArgumentException ex)
            {
                throw new FleetStateException(ex.Message, ex);
            }
        }

        return router;
    }

    private RttMatrix BuildRtt()
    {
        if (Rtt.Count == 0)
        {
            throw new FleetStateException("The state file has no \"rtt\" section.");
        }

        try
        {
            return RttMatrix.FromNested(Rtt, Replicas.Select(r => r.Region).OfType<string>(), IntraRegionRttMs);
        }
        catch (ArgumentException ex)
        {
            throw new FleetStateException($"Invalid \"rtt\" section: {ex.Message}", ex);
        }
    }
}

/// <summary>One replica in a <see cref="FleetStateFile"/>.</summary>
public sealed record ReplicaEntry
{
    /// <summary>Replica id.</summary>
    public string? Id { get; init; }

    /// <summary>Region name (must be in the RTT section).</summary>
    public string? Region { get; init; }

    /// <summary>Model served.</summary>
    public string? Model { get; init; }

    /// <summary>Health: healthy, degraded, draining or unhealthy.</summary>
    public ReplicaHealth Health { get; init; } = ReplicaHealth.Healthy;

    /// <summary>Running requests.</summary>
    public int Running { get; init; }

    /// <summary>Queued requests.</summary>
    public int Queued { get; init; }

    /// <summary>Prompt tokens of running requests.</summary>
    public long RunningTokens { get; init; }

    /// <summary>Prompt tokens of queued requests.</summary>
    public long QueuedTokens { get; init; }

    /// <summary>KV-cache utilisation, 0 to 1.</summary>
    public double KvCacheUtilization { get; init; }

    /// <summary>t_p in ms per token.</summary>
    public double PrefillMsPerToken { get; init; } = 0.094;

    /// <summary>Batch cap.</summary>
    public int MaxRunning { get; init; } = 64;

    /// <summary>Queue cap (0 = unbounded).</summary>
    public int MaxQueued { get; init; }

    /// <summary>Context length in tokens (0 = unknown).</summary>
    public int MaxContextTokens { get; init; }

    /// <summary>Age of this load snapshot in ms.</summary>
    public long AgeMs { get; init; }

    /// <summary>Prompts (text) the replica holds in its prefix cache.</summary>
    public List<string> CachedPrompts { get; init; } = [];

    /// <summary>Files (relative to the state file) whose text the replica holds in its prefix cache.</summary>
    public List<string> CachedPromptFiles { get; init; } = [];

    /// <summary>The replica as a routing-core snapshot taken <see cref="AgeMs"/> before <paramref name="nowMs"/>.</summary>
    public ReplicaView ToView(long nowMs)
    {
        if (AgeMs < 0)
        {
            throw new ArgumentException($"replica '{Id}': ageMs cannot be negative (got {AgeMs}).");
        }

        return new ReplicaView
        {
            Id = Id ?? string.Empty,
            Region = Region ?? string.Empty,
            Model = Model ?? string.Empty,
            Health = Health,
            RunningRequests = Running,
            QueuedRequests = Queued,
            RunningTokens = RunningTokens,
            QueuedTokens = QueuedTokens,
            KvCacheUtilization = KvCacheUtilization,
            PrefillMsPerToken = PrefillMsPerToken,
            MaxRunningRequests = MaxRunning,
            MaxQueuedRequests = MaxQueued,
            MaxContextTokens = MaxContextTokens,
            TakenAtMs = nowMs - AgeMs,
        };
    }

    /// <summary>The texts of <see cref="CachedPrompts"/> and <see cref="CachedPromptFiles"/>.</summary>
    public IEnumerable<string> CachedPromptTexts(string? baseDirectory)
    {
        foreach (string text in CachedPrompts)
        {
            yield return text;
        }

        foreach (string file in CachedPromptFiles)
        {
            string path = Path.Combine(baseDirectory ?? Directory.GetCurrentDirectory(), file);
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new FleetStateException($"replica '{Id}': cannot read cached prompt file '{path}': {ex.Message}", ex);
            }

            yield return text;
        }
    }
}

/// <summary>A state file that cannot be read or does not describe a valid fleet.</summary>
public sealed class FleetStateException : Exception
{
    /// <summary>Creates the exception.</summary>
    public FleetStateException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
