using System.Text.Json;
using System.Text.Json.Serialization;
using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Core;
using Gorgo.Proxy.Core;
using Gorgo.Routing;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Index;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;

namespace Gorgo.Scenarios;

/// <summary>A benchmark scenario: regions and RTTs, replicas, the trace and how to replay it, where users are, and the runs to compare.</summary>
public sealed record Scenario
{
    /// <summary>Scenario name (reported in every output).</summary>
    public string Name { get; init; } = "scenario";

    /// <summary>What the scenario is for.</summary>
    public string Description { get; init; } = string.Empty;

    /// <summary>Seed of every random choice (user regions, synthetic prompts).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The regions, each with a node (mesh) and replicas.</summary>
    public List<string> Regions { get; init; } = [];

    /// <summary>Where the RTTs come from.</summary>
    public RttSpec Rtt { get; init; } = new();

    /// <summary>Replicas per region and their engine profile.</summary>
    public ReplicaSpec Replicas { get; init; } = new();

    /// <summary>The trace and how to replay it.</summary>
    public TraceSpec Trace { get; init; } = new();

    /// <summary>How the requests are sent (the scenario's <c>load</c> section): the trace's arrivals, Poisson at a rate, or closed-loop clients.</summary>
    [JsonPropertyName("load")]
    public LoadSpec Traffic { get; init; } = new();

    /// <summary>Share of users per region (weights; default: equal).</summary>
    public Dictionary<string, double> Users { get; init; } = [];

    /// <summary>Mesh settings shared by every mesh run.</summary>
    public MeshSpec Mesh { get; init; } = new();

    /// <summary>Proxy settings shared by every proxy run.</summary>
    public ProxySpec Proxy { get; init; } = new();

    /// <summary>The runs to compare.</summary>
    public List<RunSpec> Runs { get; init; } = [];

    /// <summary>Time bounds.</summary>
    public LimitSpec Limits { get; init; } = new();

    /// <summary>Faults injected during each run's replay (mesh runs; see <see cref="FaultSpec"/>), in any order.</summary>
    public List<FaultSpec> Faults { get; init; } = [];

    /// <summary>Settings only the simulator reads (<c>gorgo sim</c>).</summary>
    public SimSpec Sim { get; init; } = new();

    /// <summary>Directory relative paths resolve against (the scenario file's).</summary>
    [JsonIgnore]
    public string BaseDirectory { get; init; } = Directory.GetCurrentDirectory();

    /// <summary>Scenario JSON: camelCase, comments and trailing commas allowed, unknown fields rejected.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    /// <summary>Reads and validates a scenario file; throws <see cref="ArgumentException"/> naming the problem.</summary>
    public static Scenario Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"Cannot read scenario '{path}': {ex.Message}", ex);
        }

        Scenario scenario;
        try
        {
            scenario = JsonSerializer.Deserialize<Scenario>(json, JsonOptions) ?? throw new ArgumentException($"Scenario '{path}' is empty.");
        }
        catch (JsonException ex)
        {
            throw new ArgumentException($"Scenario '{path}' is not valid{(ex.LineNumber is { } l ? $" (line {l + 1}, {ex.Path})" : string.Empty)}: {ex.Message}", ex);
        }

        scenario = scenario with { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path))! };
        new OptionsErrors().Include(scenario.Validate()).ThrowIfAny($"scenario '{path}'");
        return scenario;
    }

    /// <summary>The scenario's engine profile (a shipped name, or a file relative to the scenario): what the routers are told of the replicas.</summary>
    public EngineProfile LoadProfile() => EngineProfile.Load(ProfilePath(Replicas.Profile));

    /// <summary>The profile a run's engines really run (the run's <c>trueProfile</c>, else <c>replicas.trueProfile</c>), or null when it is the scenario's profile.</summary>
    public EngineProfile? LoadTrueProfile(RunSpec run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return TrueProfileName(run) is { } name ? EngineProfile.Load(ProfilePath(name)) : null;
    }

    /// <summary>The name or path of the profile a run's engines really run, or null when it is the scenario's profile.</summary>
    public string? TrueProfileName(RunSpec run) => run?.TrueProfile ?? Replicas.TrueProfile;

    /// <summary>Whether a run's users reach the mesh through gateways: the run's <c>gateways</c>, else <c>mesh.gateways</c>.</summary>
    public bool UsesGateways(RunSpec run) => run?.Gateways ?? Mesh.Gateways;

    /// <summary>A profile name as <see cref="EngineProfile.Load"/> takes it: a shipped name, or a file resolved against the scenario.</summary>
    public string ProfilePath(string profile) => EngineProfile.ShippedNames.Contains(profile) ? profile : Resolve(profile);

    /// <summary>Replica ids of a region: <c>{region}-1</c>, <c>{region}-2</c>, ...</summary>
    public IEnumerable<string> ReplicaIds(string region) => Enumerable.Range(1, Replicas.CountIn(region)).Select(i => $"{region}-{i}");

    /// <summary>A path from the scenario, resolved against the scenario file's directory.</summary>
    public string Resolve(string path) => Path.GetFullPath(Path.Combine(BaseDirectory, path));

    /// <summary>Problems with the scenario, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new OptionsErrors()
            .Check(Regions.Count > 0 && Regions.Distinct(StringComparer.Ordinal).Count() == Regions.Count, "regions must be a non-empty list of distinct names.")
            .Check(Runs.Count > 0, "runs must list at least one run.")
            .Check(Runs.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count() == Runs.Count, "run names must be distinct.")
            .Check(Users.Keys.All(Regions.Contains), $"users names a region not in regions ({string.Join(", ", Users.Keys.Except(Regions))}).")
            .Check(Users.Values.All(w => double.IsFinite(w) && w >= 0) && (Users.Count == 0 || Users.Values.Sum() > 0), "users weights must be non-negative and not all zero.")
            .Include(Rtt.Validate())
            .Include(Replicas.Validate(Regions))
            .Include(Trace.Validate())
            .Include(Traffic?.Validate(Trace) ?? ["load is missing."])
            .Include(Mesh.Validate())
            .Include(Proxy.Validate(Regions))
            .Include(Limits.Validate())
            .Include(Sim.Validate())
            .Check(Faults is not null, "faults must be a list of faults (or left out).")
            .Include(FaultSchedule.Validate(Faults ?? [], Regions, ReplicaIds, Runs));
        foreach (RunSpec run in Runs)
        {
            errors.Include(run.Validate(Regions));
            if (TrueProfileName(run) is { } truth)
            {
                errors.Check(EngineProfile.ShippedNames.Contains(truth) || File.Exists(Resolve(truth)), $"run '{run.Name}': true profile '{truth}' is neither a shipped profile ({string.Join(", ", EngineProfile.ShippedNames)}) nor a file.");
            }
        }

        return errors.Errors;
    }
}

/// <summary>Where a scenario's RTTs come from: a file under <c>benchmarks/data/rtt</c> (pairs or square matrix) or inline.</summary>
public sealed record RttSpec
{
    /// <summary>RTT file, relative to the scenario file: a pairs CSV (<c>region_a,region_b,...</c>) or a square matrix (<c>source,...</c>).</summary>
    public string? File { get; init; }

    /// <summary>Column of a pairs CSV holding the RTT (default <c>recommended_ms</c>).</summary>
    public string Column { get; init; } = "recommended_ms";

    /// <summary>Scenario region → name in the file, for regions named differently there.</summary>
    public Dictionary<string, string> Aliases { get; init; } = [];

    /// <summary>Inline RTTs <c>{"from": {"to": ms}}</c> (instead of a file).</summary>
    public Dictionary<string, Dictionary<string, double>>? Inline { get; init; }

    /// <summary>Factor applied to every RTT, e.g. 3 for HTTP through tunnels (the GORGO authors' probes were ~3× backbone).</summary>
    public double Multiplier { get; init; } = 1.0;

    /// <summary>RTT inside a region when the source has none.</summary>
    public double IntraRegionMs { get; init; } = 1.0;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check((File is null) != (Inline is null), "rtt needs exactly one of file and inline.")
        .Finite(Multiplier, "rtt.multiplier", min: 0)
        .Finite(IntraRegionMs, "rtt.intraRegionMs")
        .Errors;
}

/// <summary>Replicas of every region.</summary>
public sealed record ReplicaSpec
{
    /// <summary>Replicas in each region (default 2).</summary>
    public int PerRegion { get; init; } = 2;

    /// <summary>Per-region counts overriding <see cref="PerRegion"/>.</summary>
    public Dictionary<string, int> Counts { get; init; } = [];

    /// <summary>Engine profile: a shipped name or a JSON file (relative to the scenario).</summary>
    public string Profile { get; init; } = "h100-8b";

    /// <summary>Model name.</summary>
    public string Model { get; init; } = "llama-3-8b";

    /// <summary>
    /// The profile the engines really run, when it differs from <see cref="Profile"/>, which is all the routers are
    /// told (model mismatch: e.g. a non-linear prefill term and per-step overhead the cost model does not know). Null:
    /// the engines run <see cref="Profile"/>. A run's <c>trueProfile</c> overrides it.
    /// </summary>
    public string? TrueProfile { get; init; }

    /// <summary>Replicas in <paramref name="region"/>.</summary>
    public int CountIn(string region) => Counts.TryGetValue(region, out int n) ? n : PerRegion;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate(IReadOnlyList<string> regions) => new OptionsErrors()
        .Check(PerRegion >= 0 && Counts.Values.All(n => n >= 0), "replicas counts cannot be negative.")
        .Check(Counts.Keys.All(regions.Contains), "replicas.counts names a region not in regions.")
        .Check(regions.Sum(CountIn) > 0, "the scenario has no replicas.")
        .Check(!string.IsNullOrWhiteSpace(Profile) && !string.IsNullOrWhiteSpace(Model), "replicas need a profile and a model.")
        .Errors;
}

/// <summary>The trace and how to replay it.</summary>
public sealed record TraceSpec
{
    /// <summary><c>mooncake</c> (JSONL with <c>hash_ids</c>) or <c>azure</c> (CSV of arrivals and lengths).</summary>
    public string Kind { get; init; } = "mooncake";

    /// <summary>Trace file, relative to the scenario file.</summary>
    public string File { get; init; } = string.Empty;

    /// <summary>Replay only the first N requests (0: all).</summary>
    public int FirstN { get; init; }

    /// <summary>Arrival times are multiplied by this (0.5 replays twice as fast).</summary>
    public double TimeScale { get; init; } = 1.0;

    /// <summary>Each request is replayed this many times (rounded stochastically), spread over the gap to the next arrival.</summary>
    public double RateMultiplier { get; init; } = 1.0;

    /// <summary>Prompt lengths are multiplied by this, keeping the trace's distribution's shape (e.g. 0.22 turns the Azure conversation trace's mean of about 1,150 tokens into the paper's ~250-token chat prompts); only for traces without prefix blocks.</summary>
    public double InputScale { get; init; } = 1.0;

    /// <summary>Prompts longer than this are cut (0: no cap).</summary>
    public int MaxInputTokens { get; init; }

    /// <summary>Outputs longer than this are cut (0: no cap).</summary>
    public int MaxOutputTokens { get; init; }

    /// <summary>Synthetic prefix sharing of traces without prefix information (Azure).</summary>
    public SharingSpec Sharing { get; init; } = new();

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(Kind is "mooncake" or "azure", $"trace.kind must be 'mooncake' or 'azure' (got '{Kind}').")
        .Check(!string.IsNullOrWhiteSpace(File), "trace.file is required.")
        .Check(FirstN >= 0 && MaxInputTokens >= 0 && MaxOutputTokens >= 0, "trace.firstN, maxInputTokens and maxOutputTokens cannot be negative.")
        .Finite(TimeScale, "trace.timeScale", min: 1e-6)
        .Finite(RateMultiplier, "trace.rateMultiplier", min: 1e-6)
        .Finite(InputScale, "trace.inputScale", min: 1e-6)
        .Check(InputScale == 1 || Kind != "mooncake", "trace.inputScale would cut across the Mooncake trace's 512-token prefix blocks; cap prompts with trace.maxInputTokens instead.")
        .Include(Sharing.Validate())
        .Errors;
}

/// <summary>
/// The synthetic prefix-sharing model for traces that carry only lengths (Azure): every request belongs to one of
/// <see cref="Groups"/> prompt groups drawn with Zipf popularity (exponent <see cref="ZipfExponent"/>); a group's
/// shared prefix (a system prompt or document) has a length uniform in [<see cref="MinPrefixTokens"/>,
/// <see cref="MaxPrefixTokens"/>]; a request's prompt is the first min(prefix, <see cref="MaxSharedFraction"/> × its
/// length) tokens of its group's prefix followed by tokens of its own.
/// </summary>
public sealed record SharingSpec
{
    /// <summary>Number of prompt groups.</summary>
    public int Groups { get; init; } = 32;

    /// <summary>Zipf exponent of group popularity.</summary>
    public double ZipfExponent { get; init; } = 1.1;

    /// <summary>Shortest group prefix.</summary>
    public int MinPrefixTokens { get; init; } = 256;

    /// <summary>Longest group prefix.</summary>
    public int MaxPrefixTokens { get; init; } = 4096;

    /// <summary>Largest share of a request's prompt that comes from its group.</summary>
    public double MaxSharedFraction { get; init; } = 0.8;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(Groups >= 1 && MinPrefixTokens >= 0 && MaxPrefixTokens >= MinPrefixTokens, "trace.sharing needs groups >= 1 and 0 <= minPrefixTokens <= maxPrefixTokens.")
        .Finite(ZipfExponent, "trace.sharing.zipfExponent")
        .Check(double.IsFinite(MaxSharedFraction) && MaxSharedFraction is >= 0 and <= 1, "trace.sharing.maxSharedFraction must be between 0 and 1.")
        .Errors;
}

/// <summary>Mesh settings of a scenario: the same option types a mesh node binds (<c>Gossip</c>, <c>Probes</c>).</summary>
public sealed record MeshSpec
{
    /// <summary>Gossip settings (the mesh's <c>Gossip</c> section).</summary>
    public GossipOptions Gossip { get; init; } = new();

    /// <summary>RTT probe settings (the mesh's <c>Probes</c> section).</summary>
    public ProbeOptions Probes { get; init; } = new();

    /// <summary>How often local replicas' load is read.</summary>
    public int LoadReportIntervalMs { get; init; } = 100;

    /// <summary>Each node routes among the replicas of this many nearest regions (0: all).</summary>
    public int NearestRegions { get; init; }

    /// <summary>Whether a node counts the requests other nodes' digests say are on their way to a replica (the mesh's <c>CountPeerPendingWork</c>).</summary>
    public bool CountPeerPendingWork { get; init; } = true;

    /// <summary>
    /// Whether each region's users reach the mesh through a <c>gorgo gateway</c> in their region (a tier apart from
    /// the nodes, which outlives them) instead of straight at their node: a killed node's own streams then end with an
    /// error event, and its requests without a first token go to the next node.
    /// </summary>
    public bool Gateways { get; init; }

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Include(Gossip?.Validate("mesh.gossip") ?? ["mesh.gossip is missing."])
        .Include(Probes?.Validate("mesh.probes") ?? ["mesh.probes is missing."])
        .Check(LoadReportIntervalMs >= 10, $"mesh.loadReportIntervalMs must be at least 10 (got {LoadReportIntervalMs}).")
        .Check(NearestRegions >= 0, "mesh.nearestRegions cannot be negative.")
        .Errors;
}

/// <summary>Proxy settings of a scenario: its region and health interval, and the dispatch settings <c>gorgo proxy</c> binds too.</summary>
public sealed record ProxySpec
{
    /// <summary>Region the proxy runs in (a run may override it).</summary>
    public string? Region { get; init; }

    /// <summary>Health probe interval (the paper's 100 ms); the proxy reads replicas' KV-cache use at this interval too.</summary>
    public int HealthIntervalMs { get; init; } = 100;

    /// <summary>How the proxy admits requests (the proxy's <c>Dispatch</c> section): binding, cap per replica, KV gate, re-dispatch interval.</summary>
    public ProxyDispatchOptions Dispatch { get; init; } = new();

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate(IReadOnlyList<string> regions) => new OptionsErrors()
        .Check(Region is null || regions.Contains(Region), $"proxy.region '{Region}' is not in regions.")
        .Check(HealthIntervalMs >= 10, "proxy.healthIntervalMs must be at least 10.")
        .Include(Dispatch?.Validate("proxy.dispatch") ?? ["proxy.dispatch is missing."])
        .Errors;
}

/// <summary>What serves a run: a mesh node per region, or one proxy.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<DeploymentMode>))]
public enum DeploymentMode
{
    /// <summary>A node per region routes on its own view (<c>mesh</c>).</summary>
    Mesh,

    /// <summary>One router in the proxy's region routes everything (<c>proxy</c>).</summary>
    Proxy,
}

/// <summary>How a simulated mesh node knows its own region's replicas' prefix caches.</summary>
[JsonConverter(typeof(EnumNameJsonConverter<CacheViewMode>))]
public enum CacheViewMode
{
    /// <summary>The engines' cache events and the node's own decisions (<c>hybrid</c>; what a live node does for emulated replicas).</summary>
    Hybrid,

    /// <summary>Only the node's decisions (<c>decisions</c>): the approximation a node has of HTTP replicas without KV events.</summary>
    Decisions,

    /// <summary>Only the engines' cache events (<c>exact</c>): what a node has of replicas publishing KV events.</summary>
    Exact,
}

/// <summary>One run of a scenario: a deployment and a policy.</summary>
public sealed record RunSpec
{
    /// <summary>Run name (unique in the scenario).</summary>
    public string Name { get; init; } = string.Empty;

    /// <summary><c>mesh</c> or <c>proxy</c>.</summary>
    public DeploymentMode Mode { get; init; } = DeploymentMode.Mesh;

    /// <summary>Routing policy.</summary>
    public string Policy { get; init; } = PolicyCatalog.Gorgo;

    /// <summary>Consistency of a mesh run: <c>gossip</c> (default), <c>sync</c>, <c>local-only</c>, or (simulator only) <c>shared</c>: exact state of every nearby replica at no cost.</summary>
    public ConsistencyMode? Consistency { get; init; }

    /// <summary>Where a mesh run's routers may send a request: <c>global</c> (default) or <c>local-first</c> (home while a home replica has a free batch slot, else one hop); <c>local-only</c> runs are <c>local-first</c>.</summary>
    public RoutingScope? Scope { get; init; }

    /// <summary>Region of a proxy run's proxy (default: the scenario's <c>proxy.region</c>, else the first region).</summary>
    public string? ProxyRegion { get; init; }

    /// <summary>A proxy run's own <c>proxy.dispatch.binding</c> (default: the scenario's).</summary>
    public ProxyBinding? ProxyBinding { get; init; }

    /// <summary>The dispatch settings this run's proxy uses, given the scenario's.</summary>
    public ProxyDispatchOptions EffectiveProxyDispatch(ProxyDispatchOptions scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        if (ProxyBinding is not { } binding)
        {
            return scenario;
        }

        ProxyDispatchOptions own = scenario.Clone();
        own.Binding = binding;
        return own;
    }

    /// <summary>A mesh run's own <c>mesh.gossip.summaryMerge</c> (default: the scenario's).</summary>
    public PrefixMergeMode? SummaryMerge { get; init; }

    /// <summary>
    /// How a mesh run's nodes know their own replicas' caches (simulator only; default <c>hybrid</c>): <c>decisions</c>,
    /// <c>exact</c> (KV events) or <c>hybrid</c>. Other regions' replicas are known from gossip and decisions either way.
    /// </summary>
    public CacheViewMode? CacheView { get; init; }

    /// <summary>Whether a mesh run's nodes calibrate the cost model online, per replica, from the TTFTs they observe (<c>cost.calibration</c>; default off).</summary>
    public bool? Calibrate { get; init; }

    /// <summary>Whether a mesh run's cost model forecasts the wait for a batch slot behind a full batch (<c>cost.forecastSlotWait</c>; default on).</summary>
    public bool? ForecastSlotWait { get; init; }

    /// <summary>Whether a mesh run's routers add each remote region's learned transit allowance to its estimates (<c>cost.transitAllowance.enabled</c>; default on).</summary>
    public bool? TransitAllowance { get; init; }

    /// <summary>Whether a mesh run's nodes route a request another node forwarded to one of their replicas again on arrival, among their own replicas (<c>mesh.rebindOnArrival</c>; default on).</summary>
    public bool? RebindOnArrival { get; init; }

    /// <summary>A mesh run's relay factor: a node sends a forwarded request on, once, to another region's replica whose estimate times this is below its own best (<c>mesh.relayFactor</c>; default 1.5, 0: off).</summary>
    public double? RelayFactor { get; init; }

    /// <summary>Whether a mesh run's users reach the nodes through a gateway in their region (default: <c>mesh.gateways</c>).</summary>
    public bool? Gateways { get; init; }

    /// <summary>The cost model this run's routers use: slot-wait forecast, online calibration and transit allowance as the run sets them (calibration only where <paramref name="calibrationAllowed"/>).</summary>
    public CostModelOptions CostOptions(bool calibrationAllowed = true) => new()
    {
        ForecastSlotWait = ForecastSlotWait ?? true,
        Calibration = new CalibrationOptions { Enabled = calibrationAllowed && Calibrate == true },
        TransitAllowance = new TransitAllowanceOptions { Enabled = TransitAllowance ?? true },
    };

    /// <summary>The profile this run's engines really run (default: <c>replicas.trueProfile</c>, else <c>replicas.profile</c>); the routers are told <c>replicas.profile</c>.</summary>
    public string? TrueProfile { get; init; }

    /// <summary>A mesh run's own <c>mesh.gossip.intervalMs</c> (default: the scenario's), e.g. 1,000 for routers that refresh peer state once a second.</summary>
    public int? GossipIntervalMs { get; init; }

    /// <summary>A mesh run's own <c>mesh.gossip.deltas</c> (default: the scenario's): false gossips whole digests, the protocol before deltas.</summary>
    public bool? GossipDeltas { get; init; }

    /// <summary>The gossip settings this run's nodes use: the scenario's, with the run's own summary merge, interval and deltas.</summary>
    public GossipOptions EffectiveGossip(GossipOptions scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        GossipOptions gossip = scenario.Clone();
        gossip.SummaryMerge = SummaryMerge ?? scenario.SummaryMerge;
        gossip.IntervalMs = GossipIntervalMs ?? scenario.IntervalMs;
        gossip.Deltas = GossipDeltas ?? scenario.Deltas;
        return gossip;
    }

    /// <summary>The consistency of a mesh run (null for proxy runs).</summary>
    [JsonIgnore]
    public ConsistencyMode? EffectiveConsistency => Mode == DeploymentMode.Mesh ? Consistency ?? ConsistencyMode.Gossip : null;

    /// <summary>The run's mode as results report it (<c>mesh</c>, <c>proxy</c>).</summary>
    [JsonIgnore]
    public string ModeName => EnumNames<DeploymentMode>.Name(Mode);

    /// <summary>The scope the run's routers decide with: the run's own, else <c>local-first</c> for <c>local-only</c> mesh runs, else <c>global</c>.</summary>
    [JsonIgnore]
    public RoutingScope EffectiveScope => Scope ?? EffectiveConsistency?.Scope() ?? RoutingScope.Global;

    /// <summary>The run's scope as results report it.</summary>
    [JsonIgnore]
    public string ScopeName => EnumNames<RoutingScope>.Name(EffectiveScope);

    /// <summary>The run's consistency as results report it (null for proxy runs).</summary>
    [JsonIgnore]
    public string? ConsistencyName => EffectiveConsistency?.Name();

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate(IReadOnlyList<string> regions) => new OptionsErrors()
        .Check(!string.IsNullOrWhiteSpace(Name), "every run needs a name.")
        .Check(Enum.IsDefined(Mode), EnumNames<DeploymentMode>.Expected($"run '{Name}': mode", Mode.ToString()))
        .Check(PolicyCatalog.IsKnown(Policy) || Policy == "oracle", $"run '{Name}': {PolicyCatalog.UnknownMessage(Policy)}")
        .Check(Mode != DeploymentMode.Proxy || Consistency is null, $"run '{Name}': a proxy run has no consistency setting.")
        .Check(SummaryMerge is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has a summaryMerge.")
        .Check(GossipIntervalMs is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has a gossipIntervalMs.")
        .Check(GossipDeltas is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has gossipDeltas.")
        .Check(GossipIntervalMs is null or >= 10, $"run '{Name}': gossipIntervalMs must be at least 10 (got {GossipIntervalMs}).")
        .Check(Scope is null or RoutingScope.Global || Mode == DeploymentMode.Mesh, $"run '{Name}': a proxy routes globally (scope must be global).")
        .Check(ProxyBinding is null || Mode == DeploymentMode.Proxy, $"run '{Name}': only a proxy run has a proxyBinding.")
        .Check(CacheView is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has a cacheView.")
        .Check(Calibrate is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has calibrate.")
        .Check(ForecastSlotWait is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has forecastSlotWait.")
        .Check(TransitAllowance is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has transitAllowance.")
        .Check(RebindOnArrival is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has rebindOnArrival.")
        .Check(RelayFactor is null || Mode == DeploymentMode.Mesh, $"run '{Name}': only a mesh run has relayFactor.")
        .Include(RelayFactor is { } relay ? RegionNodeOptions.ValidateRelayFactor(relay, $"run '{Name}': relayFactor") : [])
        .Check(CacheView is null || Enum.IsDefined(CacheView.Value), EnumNames<CacheViewMode>.Expected($"run '{Name}': cacheView", CacheView?.ToString() ?? string.Empty))
        .Check(ProxyRegion is null || regions.Contains(ProxyRegion), $"run '{Name}': proxyRegion '{ProxyRegion}' is not in regions.")
        .Errors;
}

/// <summary>Time bounds of a live run.</summary>
public sealed record LimitSpec
{
    /// <summary>A run stops sending and cancels what is left after this long.</summary>
    public int RunSeconds { get; init; } = 600;

    /// <summary>A request still unanswered after this long is cancelled and counted failed.</summary>
    public int RequestTimeoutSeconds { get; init; } = 120;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(RunSeconds >= 1 && RequestTimeoutSeconds >= 1, "limits.runSeconds and requestTimeoutSeconds must be at least 1.")
        .Errors;
}

/// <summary>Settings only the simulator reads; the live harness ignores them.</summary>
public sealed record SimSpec
{
    /// <summary>Tokens per KV block in the simulation (0: the profile's). Coarser blocks make fleet-scale runs fast; KV capacity in tokens is kept.</summary>
    public int BlockSize { get; init; }

    /// <summary>The oracle forecasts the true TTFT on this many candidates, the best by the cost model on exact state.</summary>
    public int OracleCandidates { get; init; } = 8;

    /// <summary>Whether to write <c>requests.csv</c> (one row per request; off for million-request runs).</summary>
    public bool RequestsCsv { get; init; } = true;

    /// <summary>
    /// Whether to forecast, for every request, its best TTFT over its pool and in its client's region from the true
    /// engine states, for <c>regret_ms</c> and <c>harmful_forward_fraction</c> (one engine forecast per candidate per
    /// request: turn off at fleet scale, where those figures are then null).
    /// </summary>
    public bool OutcomeMetrics { get; init; } = true;

    /// <summary>Faults: how long after a node is killed the survivors learn it (the live mesh's membership settings declare it in about 3 s).</summary>
    public double FailureDetectionMs { get; init; } = 3_000;

    /// <summary>Faults: how long a restarted node takes to serve (a <c>gorgo node</c> process's start-up on the live harness's machine).</summary>
    public double NodeStartMs { get; init; } = 3_000;

    /// <summary>Faults: how long a stopped node drains before it exits regardless (the front door's default <c>Admission:DrainTimeoutMs</c>).</summary>
    public double DrainTimeoutMs { get; init; } = 30_000;

    /// <summary>Faults: how long a call across a partition waits before it fails (Orleans' default response timeout, which the live partition emulation uses).</summary>
    public double ResponseTimeoutMs { get; init; } = 30_000;

    /// <summary>Problems, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(BlockSize is 0 or (>= 1 and <= 4096), $"sim.blockSize must be 0 (the profile's) or between 1 and 4096 (got {BlockSize}).")
        .Check(OracleCandidates >= 1, $"sim.oracleCandidates must be at least 1 (got {OracleCandidates}).")
        .Finite(FailureDetectionMs, "sim.failureDetectionMs")
        .Finite(NodeStartMs, "sim.nodeStartMs")
        .Finite(DrainTimeoutMs, "sim.drainTimeoutMs")
        .Finite(ResponseTimeoutMs, "sim.responseTimeoutMs", min: 1)
        .Errors;
}
