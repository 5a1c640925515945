using System.ComponentModel;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Core;
using Gorgo.Replica.KvEvents;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Tokens;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;
using Gorgo.Serving;

namespace Gorgo.Mesh.Options;

/// <summary>Where one region's node listens.</summary>
public sealed class RegionEndpointOptions
{
    /// <summary>The OpenAI ingress, e.g. <c>http://127.0.0.1:8080</c>.</summary>
    public string IngressUrl { get; set; } = string.Empty;

    /// <summary>Orleans silo-to-silo port.</summary>
    public int SiloPort { get; set; }

    /// <summary>Orleans client gateway port.</summary>
    public int GatewayPort { get; set; }

    /// <summary>IP address other silos reach this one at, and the only one its silo listens on (default 127.0.0.1).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>This node's consistency setting when it differs from the mesh's (null: the mesh's).</summary>
    public ConsistencyMode? Consistency { get; set; }
}

/// <summary>One replica served by the mesh: an in-process emulated engine or an HTTP server (vLLM, SGLang, <c>gorgo replica</c>).</summary>
public sealed class ReplicaOptions
{
    /// <summary>Unique replica id.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>Region whose node hosts it.</summary>
    public string Region { get; set; } = string.Empty;

    /// <summary>Model name clients ask for.</summary>
    public string Model { get; set; } = "llama-3-8b";

    /// <summary><c>emulated</c> (in-process engine) or <c>http</c>.</summary>
    public ReplicaKind Kind { get; set; } = ReplicaKind.Emulated;

    /// <summary>Engine profile of an emulated replica (shipped name or JSON file): what the router is told of it.</summary>
    public string Profile { get; set; } = "h100-8b";

    /// <summary>The profile an emulated replica's engine really runs when it should differ from <see cref="Profile"/> (to study model mismatch); null: <see cref="Profile"/>.</summary>
    public string? TrueProfile { get; set; }

    /// <summary>Base URL of an HTTP replica.</summary>
    public string? Url { get; set; }

    /// <summary>API key sent to an HTTP replica.</summary>
    public string? ApiKey { get; set; }

    /// <summary>t_p of an HTTP replica in ms per token (emulated replicas take their profile's).</summary>
    public double PrefillMsPerToken { get; set; } = 0.094;

    /// <summary>Batch cap of an HTTP replica (emulated replicas take their profile's).</summary>
    public int MaxRunningRequests { get; set; } = 64;

    /// <summary>Context length of an HTTP replica (emulated replicas take their profile's).</summary>
    public int MaxContextTokens { get; set; } = 32_768;

    /// <summary>Prompt tokens assumed per running or waiting request when the backend reports only request counts (vLLM).</summary>
    public int AssumedPromptTokens { get; set; } = 1_024;

    /// <summary>
    /// Requests that may wait at this replica before routers count it full and send work elsewhere (or answer 429 when
    /// every replica is full); null: four times its batch slots; 0: unbounded.
    /// </summary>
    public int? MaxQueuedRequests { get; set; }

    /// <summary>
    /// Where an HTTP replica's engine publishes its KV events (vLLM/SGLang <c>--kv-events-config</c>): with it, the node
    /// holds exactly the engine's cached blocks instead of guessing them from its decisions; null: no events.
    /// </summary>
    public KvEventsOptions? KvEvents { get; set; }

    /// <summary>
    /// Path of the model's Hugging Face <c>tokenizer.json</c> (byte-level BPE: Llama 3, Qwen, ...), so that the node's
    /// token ids and block boundaries are the engine's; null: cl100k_base. Every replica of a model names the same file.
    /// </summary>
    public string? Tokenizer { get; set; }

    /// <summary>Step-time jitter of an emulated replica.</summary>
    public double StepJitter { get; set; }

    /// <summary>Seed of an emulated replica's jitter.</summary>
    public int Seed { get; set; } = 1;
}

/// <summary>How a mesh serves a replica: an engine in process, or an HTTP server.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<ReplicaKind>))]
[TypeConverter(typeof(EnumNameTypeConverter<ReplicaKind>))]
public enum ReplicaKind
{
    /// <summary>An emulated engine in the node's process (<c>emulated</c>).</summary>
    Emulated,

    /// <summary>An OpenAI-compatible HTTP server: vLLM, SGLang or <c>gorgo replica</c> (<c>http</c>).</summary>
    Http,
}

/// <summary>How the mesh's silos find each other.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<ClusteringMode>))]
[TypeConverter(typeof(EnumNameTypeConverter<ClusteringMode>))]
public enum ClusteringMode
{
    /// <summary>Development: the primary region's silo is the seed and holds the membership, every silo at its <c>AdvertisedAddress</c> (<c>localhost</c>; one machine unless addresses are set).</summary>
    Localhost,

    /// <summary>Membership in an Azure Table (or Azurite) (<c>azure-table</c>).</summary>
    AzureTable,
}

/// <summary>How the mesh's silos find each other.</summary>
public sealed class ClusteringOptions
{
    /// <summary><c>localhost</c> (development: every silo on this machine) or <c>azure-table</c>.</summary>
    public ClusteringMode Mode { get; set; } = ClusteringMode.Localhost;

    /// <summary>Azure Table storage connection string (mode <c>azure-table</c>).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Orleans service id.</summary>
    public string ServiceId { get; set; } = "gorgo";

    /// <summary>Orleans cluster id.</summary>
    public string ClusterId { get; set; } = "gorgo-mesh";

    /// <summary>Region whose silo is the primary in <c>localhost</c> mode (default: the first region).</summary>
    public string? PrimaryRegion { get; set; }
}

/// <summary>Everything a mesh node needs; bound from the config file, environment and command line, validated at start.</summary>
public sealed class MeshOptions
{
    /// <summary>Regions and where their nodes listen.</summary>
    public Dictionary<string, RegionEndpointOptions> Regions { get; set; } = [];

    /// <summary>RTTs in ms between regions, <c>{"from": {"to": ms}}</c>; a missing direction takes the reverse value.</summary>
    public Dictionary<string, Dictionary<string, double>> Rtt { get; set; } = [];

    /// <summary>RTT inside a region when not given.</summary>
    public double IntraRegionRttMs { get; set; } = 1.0;

    /// <summary>Replicas of every region (a node runs those of its own region).</summary>
    public List<ReplicaOptions> Replicas { get; set; } = [];

    /// <summary>Cluster membership.</summary>
    public ClusteringOptions Clustering { get; set; } = new();

    /// <summary><c>local-only</c>, <c>gossip</c> (default) or <c>sync</c>.</summary>
    public ConsistencyMode Consistency { get; set; } = ConsistencyMode.Gossip;

    /// <summary>Where nodes' decisions may send a request: <c>global</c> or <c>local-first</c> (null: <c>local-first</c> under <c>local-only</c>, else <c>global</c>).</summary>
    public RoutingScope? Scope { get; set; }

    /// <summary>Whether a node routes a request another node sent to one of its replicas again on arrival, among its own replicas (default on; <see cref="RegionNodeOptions.RebindOnArrival"/>).</summary>
    public bool RebindOnArrival { get; set; } = true;

    /// <summary>With <see cref="RebindOnArrival"/>: how much better another region's replica must look for a node to send a forwarded request on to it, once (default 1.5; 0: never; <see cref="RegionNodeOptions.RelayFactor"/>).</summary>
    public double RelayFactor { get; set; } = RegionNodeOptions.DefaultRelayFactor;

    /// <summary>Gossip settings.</summary>
    public GossipOptions Gossip { get; set; } = new();

    /// <summary>Probe settings.</summary>
    public ProbeOptions Probes { get; set; } = new();

    /// <summary>Delay cross-region calls by the configured RTTs (one machine standing in for several regions).</summary>
    public bool WanEmulation { get; set; }

    /// <summary>Enables <c>POST /admin/faults</c> (partitions and replica faults for fault scenarios and failure tests); never turn it on in production.</summary>
    public bool FaultInjection { get; set; }

    /// <summary>Ingress admission control.</summary>
    public AdmissionOptions Admission { get; set; } = new();

    /// <summary>Retries before the first token and per-replica circuit breakers.</summary>
    public ResilienceOptions Resilience { get; set; } = new();

    /// <summary>Routing policy and its settings.</summary>
    public PolicyOptions Policy { get; set; } = new();

    /// <summary>Cost model settings.</summary>
    public CostModelOptions Cost { get; set; } = new();

    /// <summary>How often local replicas' load is read.</summary>
    public int LoadReportIntervalMs { get; set; } = 100;

    /// <summary>Output length of chat requests without <c>max_tokens</c>.</summary>
    public int DefaultMaxTokens { get; set; } = 256;

    /// <summary>Replica state older than this is not used for routing.</summary>
    public double MaxStateAgeMs { get; set; } = 15_000;

    /// <summary>Whether requests other nodes say (in their digests) are on their way to a replica count in its queue until a load report reflects them.</summary>
    public bool CountPeerPendingWork { get; set; } = true;

    /// <summary>Route only among replicas of this many regions nearest each node (by RTT, its own included); 0 = all regions.</summary>
    public int NearestRegions { get; set; }

    /// <summary>The consistency setting of a region's node: its own, else the mesh's.</summary>
    public ConsistencyMode ConsistencyOf(string region) => Regions.TryGetValue(region, out RegionEndpointOptions? r) && r.Consistency is { } own ? own : Consistency;

    /// <summary>What the node of <paramref name="region"/> runs the mesh protocol with.</summary>
    public RegionNodeOptions NodeOptions(string region) => new()
    {
        Region = region,
        Consistency = ConsistencyOf(region),
        Gossip = Gossip,
        Probes = Probes,
        NearestRegions = NearestRegions,
        Scope = Scope,
        RebindOnArrival = RebindOnArrival,
        RelayFactor = RelayFactor,
    };

    /// <summary>Each model's prompt encoder: its replicas' <c>tokenizer</c> file, cl100k_base for models without one.</summary>
    /// <exception cref="ArgumentException">A tokenizer file cannot be read.</exception>
    public PromptEncoders BuildEncoders() =>
        PromptEncoders.Load(Replicas.GroupBy(r => r.Model, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Tokenizer, StringComparer.Ordinal));

    /// <summary>The RTT matrix of the configured regions.</summary>
    public RttMatrix BuildRtt() => RttMatrix.FromNested(Rtt, Regions.Keys, IntraRegionRttMs);

    /// <summary>Problems with these options for a node of <paramref name="region"/> (null: check the whole mesh), empty when valid.</summary>
    public IReadOnlyList<string> Validate(string? region = null)
    {
        var errors = new OptionsErrors();
        errors.Check(Regions.Count > 0, "No regions are configured (Regions).");
        foreach ((string name, RegionEndpointOptions endpoints) in Regions)
        {
            errors.Check(RegionName().IsMatch(name), $"Region name '{name}' must be lower-case letters, digits and dashes.");
            errors.Check(Uri.TryCreate(endpoints.IngressUrl, UriKind.Absolute, out Uri? url) && url.Scheme == Uri.UriSchemeHttp && url.Port is > 0 and <= 65535, $"Region '{name}': IngressUrl '{endpoints.IngressUrl}' must be an absolute http URL with a port.");
            errors.Check(endpoints.SiloPort is > 0 and <= 65535, $"Region '{name}': SiloPort {endpoints.SiloPort} is not a valid port.");
            errors.Check(endpoints.GatewayPort is > 0 and <= 65535, $"Region '{name}': GatewayPort {endpoints.GatewayPort} is not a valid port.");
            errors.Check(System.Net.IPAddress.TryParse(endpoints.AdvertisedAddress, out _), $"Region '{name}': AdvertisedAddress '{endpoints.AdvertisedAddress}' must be an IP address.");
        }

        // Regions on one machine (one advertised address) must not share a port; nodes on different machines may.
        var ports = Regions.SelectMany(r => new[] { (r.Key, r.Value.AdvertisedAddress, r.Value.SiloPort), (r.Key, r.Value.AdvertisedAddress, r.Value.GatewayPort), (r.Key, r.Value.AdvertisedAddress, Uri.TryCreate(r.Value.IngressUrl, UriKind.Absolute, out Uri? u) ? u.Port : -1) })
            .Where(p => p.Item3 > 0).GroupBy(p => (p.AdvertisedAddress, p.Item3)).Where(g => g.Count() > 1);
        foreach (var clash in ports)
        {
            errors.Check(false, $"Port {clash.Key.Item2} is used twice (regions {string.Join(", ", clash.Select(c => c.Key).Distinct())}).");
        }

        if (region is not null)
        {
            errors.Check(Regions.ContainsKey(region), $"Unknown region '{region}'. Configured regions: {string.Join(", ", Regions.Keys)}.");
        }

        try
        {
            RttMatrix rtt = BuildRtt();
            foreach (string name in Regions.Keys)
            {
                errors.Check(rtt.Contains(name), $"No RTT is configured for region '{name}'.");
            }
        }
        catch (ArgumentException ex)
        {
            errors.Check(false, $"Bad RTT: {ex.Message}");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (ReplicaOptions r in Replicas)
        {
            string who = string.IsNullOrWhiteSpace(r.Id) ? "A replica" : $"Replica '{r.Id}'";
            errors.Check(!string.IsNullOrWhiteSpace(r.Id) && !r.Id.Contains('/', StringComparison.Ordinal), $"{who}: id must be non-empty and must not contain '/'.");
            errors.Check(string.IsNullOrWhiteSpace(r.Id) || ids.Add(r.Id), $"Duplicate replica id '{r.Id}'.");
            errors.Check(Regions.ContainsKey(r.Region), $"{who}: unknown region '{r.Region}'.");
            errors.Check(!string.IsNullOrWhiteSpace(r.Model), $"{who}: model is required.");
            errors.Check(Enum.IsDefined(r.Kind), EnumNames<ReplicaKind>.Expected($"{who}: kind", r.Kind.ToString()));
            errors.Check(r.MaxQueuedRequests is null or >= 0, $"{who}: maxQueuedRequests cannot be negative (got {r.MaxQueuedRequests}).");
            if (r.Kind == ReplicaKind.Emulated)
            {
                errors.Check(EngineProfile.ShippedNames.Contains(r.Profile) || File.Exists(r.Profile), $"{who}: unknown profile '{r.Profile}' (shipped: {string.Join(", ", EngineProfile.ShippedNames)}).");
                errors.Check(r.TrueProfile is null || EngineProfile.ShippedNames.Contains(r.TrueProfile) || File.Exists(r.TrueProfile), $"{who}: unknown true profile '{r.TrueProfile}' (shipped: {string.Join(", ", EngineProfile.ShippedNames)}).");
                errors.Check(double.IsFinite(r.StepJitter) && r.StepJitter is >= 0 and <= 0.5, $"{who}: stepJitter must be between 0 and 0.5.");
            }
            else if (r.Kind == ReplicaKind.Http)
            {
                errors.Check(Uri.TryCreate(r.Url, UriKind.Absolute, out Uri? url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps), $"{who}: url '{r.Url}' must be an absolute http(s) URL.");
                errors.Finite(r.PrefillMsPerToken, $"{who}: prefillMsPerToken", min: 1e-6);
                errors.Check(r.MaxRunningRequests >= 1 && r.MaxContextTokens >= 1 && r.AssumedPromptTokens >= 0, $"{who}: maxRunningRequests and maxContextTokens must be positive.");
                errors.Include(r.KvEvents?.Validate($"{who}: kvEvents") ?? []);
            }

            errors.Check(r.KvEvents is null || r.Kind == ReplicaKind.Http, $"{who}: kvEvents applies to http replicas (an emulated replica's engine feeds its cache events in process).");
            errors.Check(string.IsNullOrWhiteSpace(r.Tokenizer) || File.Exists(r.Tokenizer), $"{who}: tokenizer file '{r.Tokenizer}' does not exist.");
        }

        foreach (IGrouping<string, ReplicaOptions> model in Replicas.GroupBy(r => r.Model, StringComparer.Ordinal))
        {
            string[] files = [.. model.Select(r => string.IsNullOrWhiteSpace(r.Tokenizer) ? "(cl100k_base)" : r.Tokenizer!).Distinct(StringComparer.Ordinal)];
            errors.Check(files.Length == 1, $"Model '{model.Key}': its replicas name different tokenizers ({string.Join(", ", files)}); a node tokenizes each model's prompts one way.");
        }

        string live = string.Join(", ", ConsistencyModes.Live.Select(m => m.Name()));
        errors.Check(ConsistencyModes.Live.Contains(Consistency), $"Consistency must be one of {live} (got '{Consistency.Name()}').");
        foreach ((string name, RegionEndpointOptions endpoints) in Regions)
        {
            errors.Check(endpoints.Consistency is not { } own || ConsistencyModes.Live.Contains(own), $"Region '{name}': Consistency must be one of {live} (got '{endpoints.Consistency?.Name()}').");
        }

        errors.Check(Enum.IsDefined(Clustering.Mode), EnumNames<ClusteringMode>.Expected("Clustering.Mode", Clustering.Mode.ToString()));
        errors.Check(Clustering.Mode != ClusteringMode.AzureTable || !string.IsNullOrWhiteSpace(Clustering.ConnectionString), "Clustering.ConnectionString is required for azure-table clustering.");
        errors.Check(Clustering.PrimaryRegion is null || Regions.ContainsKey(Clustering.PrimaryRegion), $"Clustering.PrimaryRegion '{Clustering.PrimaryRegion}' is not a configured region.");
        errors.Include(RegionNodeOptions.ValidateRelayFactor(RelayFactor));
        errors.Include(Gossip?.Validate() ?? ["Gossip is missing."]);
        errors.Include(Probes?.Validate() ?? ["Probes is missing."]);
        errors.Include(Admission?.Validate() ?? ["Admission is missing."]);
        errors.Include(Resilience?.Validate() ?? ["Resilience is missing."]);
        errors.Check(LoadReportIntervalMs >= 10, $"LoadReportIntervalMs must be at least 10 (got {LoadReportIntervalMs}).");
        errors.Check(DefaultMaxTokens >= 1, $"DefaultMaxTokens must be at least 1 (got {DefaultMaxTokens}).");
        errors.Check(double.IsFinite(MaxStateAgeMs) && MaxStateAgeMs > 0, $"MaxStateAgeMs must be positive (got {MaxStateAgeMs}).");
        errors.Check(NearestRegions >= 0, $"NearestRegions cannot be negative (got {NearestRegions}).");
        errors.Include(Policy?.Validate() ?? ["Policy is missing."]);
        errors.Include(Cost?.Validate() ?? ["Cost is missing."]);
        return errors.Errors;
    }

    /// <summary>Throws <see cref="RoutingOptionsException"/> listing every problem.</summary>
    public MeshOptions EnsureValid(string? region = null)
    {
        new OptionsErrors().Include(Validate(region)).ThrowIfAny("mesh configuration");
        return this;
    }

    private static Regex RegionName() => new("^[a-z0-9][a-z0-9-]*$", RegexOptions.CultureInvariant);
}
