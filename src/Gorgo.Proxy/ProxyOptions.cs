using Gorgo.Proxy.Core;
using Gorgo.Routing.Cost;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;
using Gorgo.Serving;

namespace Gorgo.Proxy;

/// <summary>One replica endpoint behind the proxy.</summary>
public sealed class ProxyReplicaOptions
{
    /// <summary>Unique replica id.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>The replica's region (in the RTT matrix).</summary>
    public string Region { get; set; } = string.Empty;

    /// <summary>Model served.</summary>
    public string Model { get; set; } = "llama-3-8b";

    /// <summary>Base URL of its OpenAI API (vLLM, SGLang or <c>gorgo replica</c>).</summary>
    public string Url { get; set; } = string.Empty;

    /// <summary>API key sent as a bearer token.</summary>
    public string? ApiKey { get; set; }

    /// <summary>t_p in ms per token.</summary>
    public double PrefillMsPerToken { get; set; } = 0.094;

    /// <summary>Context length in tokens.</summary>
    public int MaxContextTokens { get; set; } = 32_768;
}

/// <summary>Settings of the centralized proxy (<c>gorgo proxy</c>); validated at start.</summary>
public sealed class ProxyOptions
{
    /// <summary>The region the proxy runs in.</summary>
    public string Region { get; set; } = string.Empty;

    /// <summary>Where the proxy listens, e.g. <c>http://127.0.0.1:9000</c>.</summary>
    public string ListenUrl { get; set; } = "http://127.0.0.1:9000";

    /// <summary>RTTs in ms, <c>{"from": {"to": ms}}</c>: the starting estimates, and the truth of WAN emulation.</summary>
    public Dictionary<string, Dictionary<string, double>> Rtt { get; set; } = [];

    /// <summary>RTT inside a region when not given.</summary>
    public double IntraRegionRttMs { get; set; } = 1.0;

    /// <summary>Replica endpoints in every region.</summary>
    public List<ProxyReplicaOptions> Replicas { get; set; } = [];

    /// <summary>How the proxy admits requests: binding (<c>late</c>, the paper's, or <c>on-arrival</c>), cap per replica (the paper's 10), KV gate (0.95), re-dispatch interval (20 ms).</summary>
    public ProxyDispatchOptions Dispatch { get; set; } = new();

    /// <summary>Interval of <c>/health</c> probes (the paper's proxy probes every 100 ms).</summary>
    public int HealthIntervalMs { get; set; } = 100;

    /// <summary>Weight of the newest probe in the RTT EWMA (the paper's α = 0.3).</summary>
    public double RttSmoothing { get; set; } = 0.3;

    /// <summary>Interval of <c>/metrics</c> scrapes.</summary>
    public int ScrapeIntervalMs { get; set; } = 1_000;

    /// <summary>Delay each backend call by the RTT between the proxy's region and the replica's (one machine standing in for many).</summary>
    public bool WanEmulation { get; set; }

    /// <summary>Admission control.</summary>
    public AdmissionOptions Admission { get; set; } = new();

    /// <summary>Retries before the first token and per-replica circuit breakers.</summary>
    public ResilienceOptions Resilience { get; set; } = new();

    /// <summary>Routing policy.</summary>
    public PolicyOptions Policy { get; set; } = new();

    /// <summary>Cost model.</summary>
    public CostModelOptions Cost { get; set; } = new();

    /// <summary>Output length of chat requests without <c>max_tokens</c>.</summary>
    public int DefaultMaxTokens { get; set; } = 256;

    /// <summary>The RTT matrix over the proxy's and the replicas' regions.</summary>
    public RttMatrix BuildRtt() => RttMatrix.FromNested(Rtt, Replicas.Select(r => r.Region).Append(Region), IntraRegionRttMs);

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new OptionsErrors()
            .Check(!string.IsNullOrWhiteSpace(Region), "Region is required.")
            .Check(Uri.TryCreate(ListenUrl, UriKind.Absolute, out Uri? listen) && listen.Scheme == Uri.UriSchemeHttp && listen.Port is >= 0 and <= 65535, $"ListenUrl '{ListenUrl}' must be an absolute http URL.")
            .Check(Replicas.Count > 0, "No replicas are configured.")
            .Check(HealthIntervalMs >= 10 && ScrapeIntervalMs >= 10, "HealthIntervalMs and ScrapeIntervalMs must be at least 10.")
            .Check(double.IsFinite(RttSmoothing) && RttSmoothing is > 0 and <= 1, $"RttSmoothing must be in (0, 1] (got {RttSmoothing}).")
            .Check(DefaultMaxTokens >= 1, $"DefaultMaxTokens must be at least 1 (got {DefaultMaxTokens}).")
            .Include(Dispatch?.Validate() ?? ["Dispatch is missing."]);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (ProxyReplicaOptions r in Replicas)
        {
            string who = string.IsNullOrWhiteSpace(r.Id) ? "A replica" : $"Replica '{r.Id}'";
            errors.Check(!string.IsNullOrWhiteSpace(r.Id) && ids.Add(r.Id), $"{who}: id must be non-empty and unique.");
            errors.Check(!string.IsNullOrWhiteSpace(r.Region) && !string.IsNullOrWhiteSpace(r.Model), $"{who}: region and model are required.");
            errors.Check(Uri.TryCreate(r.Url, UriKind.Absolute, out Uri? url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps), $"{who}: url '{r.Url}' must be an absolute http(s) URL.");
            errors.Finite(r.PrefillMsPerToken, $"{who}: prefillMsPerToken", min: 1e-6);
            errors.Check(r.MaxContextTokens >= 1, $"{who}: maxContextTokens must be positive.");
        }

        try
        {
            BuildRtt();
        }
        catch (ArgumentException ex)
        {
            errors.Check(false, $"Bad RTT: {ex.Message}");
        }

        return errors.Include(Admission?.Validate() ?? ["Admission is missing."])
            .Include(Resilience?.Validate() ?? ["Resilience is missing."])
            .Include(Policy?.Validate() ?? ["Policy is missing."])
            .Include(Cost?.Validate() ?? ["Cost is missing."])
            .Errors;
    }

    /// <summary>Throws <see cref="RoutingOptionsException"/> listing every problem.</summary>
    public ProxyOptions EnsureValid()
    {
        new OptionsErrors().Include(Validate()).ThrowIfAny("proxy configuration");
        return this;
    }
}
