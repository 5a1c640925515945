using Gorgo.Mesh.Core;
using Gorgo.Mesh.Options;
using Gorgo.Replica.KvEvents;
using Gorgo.Routing.Options;

namespace Gorgo.Mesh.Tests;

public class MeshOptionsTests
{
    private static MeshOptions Default() => MeshConfiguration.Load(null, useEnvironment: false);

    [Fact]
    public void The_embedded_default_is_the_three_region_local_deployment()
    {
        MeshOptions options = Default().EnsureValid();
        Assert.Equal(["ap-northeast", "eu-central", "us-east"], options.Regions.Keys.Order());
        Assert.Equal(6, options.Replicas.Count);
        Assert.All(options.Regions.Keys, r => Assert.Equal(2, options.Replicas.Count(x => x.Region == r)));
        Assert.True(options.WanEmulation);
        Assert.Equal("http://127.0.0.1:8080", options.Regions["us-east"].IngressUrl);
        Assert.Equal(92.8, options.BuildRtt().Get("eu-central", "us-east"));
    }

    [Fact]
    public void Overrides_apply_after_the_file()
    {
        MeshOptions options = MeshConfiguration.Load(null, new Dictionary<string, string?> { ["Consistency"] = "sync", ["Policy:Name"] = "least-load", ["Gossip:IntervalMs"] = "50" }, useEnvironment: false);
        Assert.Equal(ConsistencyMode.Sync, options.Consistency);
        Assert.Equal("least-load", options.Policy.Name);
        Assert.Equal(50, options.Gossip.IntervalMs);
    }

    [Theory]
    [InlineData("Policy:Name", "fastest", "Unknown policy 'fastest'")]
    [InlineData("Replicas:0:Region", "mars", "unknown region 'mars'")]
    [InlineData("Replicas:1:Id", "use-1", "Duplicate replica id 'use-1'")]
    [InlineData("Regions:us-east:SiloPort", "70000", "is not a valid port")]
    [InlineData("Regions:eu-central:GatewayPort", "30000", "Port 30000 is used twice")]
    [InlineData("Rtt:us-east:eu-central", "-5", "Bad RTT")]
    [InlineData("Clustering:Mode", "azure-table", "ConnectionString is required")]
    public void Invalid_settings_are_reported_clearly(string key, string value, string expected)
    {
        MeshOptions options = MeshConfiguration.Load(null, new Dictionary<string, string?> { [key] = value }, useEnvironment: false);
        RoutingOptionsException ex = Assert.Throws<RoutingOptionsException>(() => options.EnsureValid());
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void KV_events_are_validated_at_start_up_and_bound_from_configuration()
    {
        // Only an HTTP replica has an engine outside the node to subscribe to.
        MeshOptions emulated = MeshConfiguration.Load(null, new Dictionary<string, string?> { ["Replicas:0:KvEvents:Endpoint"] = "tcp://127.0.0.1:5557" }, useEnvironment: false);
        Assert.Contains("kvEvents applies to http replicas", Assert.Throws<RoutingOptionsException>(() => emulated.EnsureValid()).Message);

        var http = new Dictionary<string, string?>
        {
            ["Replicas:0:Kind"] = "http",
            ["Replicas:0:Url"] = "http://127.0.0.1:8000",
            ["Replicas:0:KvEvents:Endpoint"] = "udp://127.0.0.1:5557",
            ["Replicas:0:KvEvents:ReplayEndpoint"] = "tcp://127.0.0.1",
            ["Replicas:0:KvEvents:ReplayTimeoutMs"] = "0",
        };
        string message = Assert.Throws<RoutingOptionsException>(() => MeshConfiguration.Load(null, http, useEnvironment: false).EnsureValid()).Message;
        Assert.Contains("kvEvents.endpoint must be a ZeroMQ tcp address such as tcp://host:5557 (got 'udp://127.0.0.1:5557')", message);
        Assert.Contains("kvEvents.replayEndpoint must be a ZeroMQ tcp address", message);
        Assert.Contains("kvEvents.replayTimeoutMs must be between 1 and 60000 (got 0)", message);

        http["Replicas:0:KvEvents:Endpoint"] = "tcp://10.0.0.5:5557";
        http["Replicas:0:KvEvents:ReplayEndpoint"] = "tcp://10.0.0.5:5558";
        http["Replicas:0:KvEvents:ReplayTimeoutMs"] = "500";
        http["Replicas:0:KvEvents:Topic"] = "kv-events";
        MeshOptions valid = MeshConfiguration.Load(null, http, useEnvironment: false).EnsureValid();
        Assert.Equal(new KvEventsOptions { Endpoint = "tcp://10.0.0.5:5557", ReplayEndpoint = "tcp://10.0.0.5:5558", ReplayTimeoutMs = 500, Topic = "kv-events" }, valid.Replicas[0].KvEvents);
    }

    [Fact]
    public void A_models_replicas_must_agree_on_an_existing_tokenizer()
    {
        string tiny = Gorgo.Testing.Paths.Tokenizer("qwen2.5-tiny");
        var settings = new Dictionary<string, string?> { ["Replicas:0:Tokenizer"] = tiny };
        string message = Assert.Throws<RoutingOptionsException>(() => MeshConfiguration.Load(null, settings, useEnvironment: false).EnsureValid()).Message;
        Assert.Contains($"Model 'llama-3-8b': its replicas name different tokenizers ({tiny}, (cl100k_base))", message);

        settings["Replicas:1:Tokenizer"] = "/nonexistent/tokenizer.json";
        Assert.Contains("tokenizer file '/nonexistent/tokenizer.json' does not exist", Assert.Throws<RoutingOptionsException>(() => MeshConfiguration.Load(null, settings, useEnvironment: false).EnsureValid()).Message);

        MeshOptions agreed = MeshConfiguration.Load(null, Enumerable.Range(0, 6).ToDictionary(i => $"Replicas:{i}:Tokenizer", _ => (string?)tiny), useEnvironment: false).EnsureValid();
        Assert.Equal("qwen2.5-tiny", agreed.BuildEncoders().For("llama-3-8b").Tokenizer.Name);
        Assert.Equal("cl100k_base", agreed.BuildEncoders().For("another-model").Tokenizer.Name);
    }

    [Fact]
    public void The_vllm_samples_configurations_are_valid()
    {
        string dir = Path.Combine(Gorgo.Testing.Paths.RepoRoot, "samples", "vllm");
        MeshOptions rehearsal = MeshConfiguration.Load(Path.Combine(dir, "mesh.emulated.json"), useEnvironment: false).EnsureValid();
        Assert.All(rehearsal.Replicas, r => Assert.NotNull(r.KvEvents));

        // The real engines' file names a tokenizer on the engines' machines; here the tests' own stands in for it.
        string tiny = Gorgo.Testing.Paths.Tokenizer("qwen2.5-tiny");
        MeshOptions engines = MeshConfiguration.Load(Path.Combine(dir, "mesh.json"), Enumerable.Range(0, 3).ToDictionary(i => $"Replicas:{i}:Tokenizer", _ => (string?)tiny), useEnvironment: false).EnsureValid();
        Assert.All(engines.Replicas, r => Assert.Equal(ReplicaKind.Http, r.Kind));
        Assert.Equal("kv-events", engines.Replicas[0].KvEvents!.Topic);
        Assert.Null(engines.Replicas[1].KvEvents!.ReplayEndpoint);
    }

    [Theory]
    [InlineData("Consistency", "eventual", "must be one of local-only, gossip, sync, shared (got 'eventual')")]
    [InlineData("Replicas:0:Kind", "gpu", "must be one of emulated, http (got 'gpu')")]
    [InlineData("Clustering:Mode", "etcd", "must be one of localhost, azure-table (got 'etcd')")]
    [InlineData("Gossip:SummaryMerge", "merge", "must be one of replace, union (got 'merge')")]
    public void A_value_that_names_no_setting_is_refused_with_its_key_and_the_valid_names(string key, string value, string expected)
    {
        string message = Assert.Throws<ArgumentException>(() => MeshConfiguration.Load(null, new Dictionary<string, string?> { [key] = value }, useEnvironment: false)).Message;
        Assert.Contains(expected, message);
        Assert.Contains(key, message);
    }

    [Fact]
    public void The_simulators_shared_setting_is_refused_by_a_live_node()
    {
        MeshOptions options = MeshConfiguration.Load(null, new Dictionary<string, string?> { ["Consistency"] = "shared" }, useEnvironment: false);
        Assert.Contains("Consistency must be one of local-only, gossip, sync (got 'shared')", Assert.Throws<RoutingOptionsException>(() => options.EnsureValid()).Message);
    }

    [Fact]
    public void A_node_of_an_unknown_region_is_refused()
    {
        RoutingOptionsException ex = Assert.Throws<RoutingOptionsException>(() => Default().EnsureValid("mars"));
        Assert.Contains("Unknown region 'mars'", ex.Message);
    }

    [Fact]
    public void Unknown_keys_and_missing_files_are_errors()
    {
        Assert.Contains("Intervall", Assert.Throws<ArgumentException>(() => MeshConfiguration.Load(null, new Dictionary<string, string?> { ["Gossip:Intervall"] = "5" }, useEnvironment: false)).Message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => MeshConfiguration.Load("/nope/mesh.json", useEnvironment: false)).Message);
    }

    [Fact]
    public void A_node_may_override_the_consistency_setting()
    {
        MeshOptions options = MeshConfiguration.Load(null, new Dictionary<string, string?> { ["Regions:eu-central:Consistency"] = "sync" }, useEnvironment: false).EnsureValid();
        Assert.Equal(ConsistencyMode.Sync, options.ConsistencyOf("eu-central"));
        Assert.Equal(ConsistencyMode.Gossip, options.ConsistencyOf("us-east"));
    }
}
