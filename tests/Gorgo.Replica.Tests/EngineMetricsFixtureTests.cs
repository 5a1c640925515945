using Gorgo.Replica.Backends;

namespace Gorgo.Replica.Tests;

/// <summary>
/// Load read from whole <c>/metrics</c> pages as vLLM and SGLang serve them. The fixtures were written from the metric
/// definitions in vLLM's <c>vllm/v1/metrics/loggers.py</c> (names, help texts, the <c>model_name</c> and <c>engine</c>
/// labels, one series per data-parallel engine, counters with <c>_total</c> and <c>_created</c>, histograms) and
/// SGLang's <c>python/sglang/srt/metrics/collector.py</c> (gauges labelled by the scheduler's <c>model_name</c>,
/// <c>engine_type</c>, <c>tp_rank</c>, <c>pp_rank</c> and, with data-parallel attention, <c>dp_rank</c>), laid out in
/// prometheus_client's text format; the values are made up so that each aggregation rule shows.
/// </summary>
public sealed class EngineMetricsFixtureTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    /// <summary>vLLM V1 with two data-parallel engines (<c>--data-parallel-size 2</c>).</summary>
    private const string VllmDataParallel = """
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
        vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 5.0
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.0
        vllm:num_requests_waiting{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
        # HELP vllm:engine_sleep_state Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.
        # TYPE vllm:engine_sleep_state gauge
        vllm:engine_sleep_state{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct",sleep_state="awake"} 1.0
        vllm:engine_sleep_state{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct",sleep_state="awake"} 1.0
        # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.25
        vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.75
        # HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
        # TYPE vllm:prefix_cache_queries_total counter
        vllm:prefix_cache_queries_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12000.0
        vllm:prefix_cache_queries_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 8000.0
        # HELP vllm:prefix_cache_queries_created Prefix cache queries, in terms of number of queried tokens.
        # TYPE vllm:prefix_cache_queries_created gauge
        vllm:prefix_cache_queries_created{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7645e+09
        vllm:prefix_cache_queries_created{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7645e+09
        # HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.
        # TYPE vllm:prefix_cache_hits_total counter
        vllm:prefix_cache_hits_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 6000.0
        vllm:prefix_cache_hits_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2000.0
        # HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.
        # TYPE vllm:num_preemptions_total counter
        vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
        vllm:num_preemptions_total{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 2.0
        # HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
        # TYPE vllm:time_to_first_token_seconds histogram
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 40.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 42.0
        vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 42.0
        vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.125
        # HELP vllm:cache_config_info Information of the LLMEngine CacheConfig
        # TYPE vllm:cache_config_info gauge
        vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",num_gpu_blocks="27482"} 1.0
        """;

    /// <summary>An older vLLM (V0 names, one engine, no <c>engine</c> label).</summary>
    private const string VllmLegacy = """
        # HELP vllm:num_requests_running Number of requests currently running on GPU.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
        # HELP vllm:num_requests_swapped Number of requests swapped to CPU.
        # TYPE vllm:num_requests_swapped gauge
        vllm:num_requests_swapped{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 4.0
        # HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:gpu_cache_usage_perc gauge
        vllm:gpu_cache_usage_perc{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.9
        # HELP vllm:gpu_prefix_cache_hit_rate GPU prefix cache block hit rate.
        # TYPE vllm:gpu_prefix_cache_hit_rate gauge
        vllm:gpu_prefix_cache_hit_rate{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.31
        """;

    /// <summary>
    /// SGLang with two data-parallel attention ranks of tensor-parallel size 2, every scheduler reporting
    /// (<c>--enable-metrics-for-all-schedulers</c>): both TP ranks of a DP rank repeat its scheduler's values.
    /// </summary>
    private const string SglangDataAndTensorParallel = """
        # HELP sglang:num_running_reqs The number of running requests.
        # TYPE sglang:num_running_reqs gauge
        sglang:num_running_reqs{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 4.0
        sglang:num_running_reqs{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="1"} 4.0
        sglang:num_running_reqs{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="2"} 6.0
        sglang:num_running_reqs{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="3"} 6.0
        # HELP sglang:num_used_tokens The number of used tokens.
        # TYPE sglang:num_used_tokens gauge
        sglang:num_used_tokens{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 30000.0
        sglang:num_used_tokens{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="1"} 30000.0
        sglang:num_used_tokens{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="2"} 50000.0
        sglang:num_used_tokens{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="3"} 50000.0
        # HELP sglang:token_usage The token usage.
        # TYPE sglang:token_usage gauge
        sglang:token_usage{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 0.3
        sglang:token_usage{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="1"} 0.3
        sglang:token_usage{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="2"} 0.5
        sglang:token_usage{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="3"} 0.5
        # HELP sglang:gen_throughput The generation throughput (token/s).
        # TYPE sglang:gen_throughput gauge
        sglang:gen_throughput{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 412.5
        # HELP sglang:num_queue_reqs The number of requests in the waiting queue.
        # TYPE sglang:num_queue_reqs gauge
        sglang:num_queue_reqs{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 2.0
        sglang:num_queue_reqs{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="1"} 2.0
        sglang:num_queue_reqs{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="2"} 1.0
        sglang:num_queue_reqs{dp_rank="1",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="3"} 1.0
        # HELP sglang:cache_hit_rate The prefix cache hit rate.
        # TYPE sglang:cache_hit_rate gauge
        sglang:cache_hit_rate{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 0.62
        # HELP sglang:queue_time_seconds Histogram of queueing time in seconds.
        # TYPE sglang:queue_time_seconds histogram
        sglang:queue_time_seconds_bucket{dp_rank="0",engine_type="unified",le="0.0",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 10.0
        sglang:queue_time_seconds_bucket{dp_rank="0",engine_type="unified",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 12.0
        sglang:queue_time_seconds_count{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 12.0
        sglang:queue_time_seconds_sum{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 0.8
        # HELP sglang:num_retracted_requests_total Total number of retracted requests.
        # TYPE sglang:num_retracted_requests_total counter
        sglang:num_retracted_requests_total{dp_rank="0",engine_type="unified",model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",tp_rank="0"} 0.0
        """;

    [Fact]
    public void Vllm_data_parallel_engines_add_up_and_their_kv_use_is_averaged()
    {
        BackendLoad load = Read(VllmDataParallel);

        Assert.Equal(8, load.RunningRequests);
        Assert.Equal(3, load.WaitingRequests);
        Assert.Equal(0.5, load.KvUtilization, 6);
        Assert.Equal(20_000L, load.PrefixQueryTokens);
        Assert.Equal(8_000L, load.PrefixHitTokens);
        Assert.Null(load.RunningTokens);
    }

    [Fact]
    public void Vllm_legacy_names_are_read()
    {
        BackendLoad load = Read(VllmLegacy);

        Assert.Equal((7, 4, 0.9), (load.RunningRequests, load.WaitingRequests, load.KvUtilization));
        Assert.Null(load.PrefixQueryTokens);
    }

    [Fact]
    public void Sglang_counts_each_data_parallel_rank_once_however_many_tensor_parallel_ranks_repeat_it()
    {
        BackendLoad load = Read(SglangDataAndTensorParallel);

        Assert.Equal(10, load.RunningRequests);
        Assert.Equal(3, load.WaitingRequests);
        Assert.Equal(80_000L, load.RunningTokens);
        Assert.Equal(0.4, load.KvUtilization, 6);
    }

    [Fact]
    public void Sglang_priority_series_are_not_added_to_their_aggregate()
    {
        // With priority scheduling each gauge has a series per priority beside the aggregate (empty priority).
        BackendLoad load = Read("""
            # TYPE sglang:num_running_reqs gauge
            sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",priority="",tp_rank="0"} 14.0
            sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",priority="0",tp_rank="0"} 10.0
            sglang:num_running_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",priority="5",tp_rank="0"} 4.0
            # TYPE sglang:num_queue_reqs gauge
            sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",priority="0",tp_rank="0"} 2.0
            sglang:num_queue_reqs{model_name="meta-llama/Llama-3.1-8B-Instruct",pp_rank="0",priority="5",tp_rank="0"} 3.0
            """);

        Assert.Equal(14, load.RunningRequests);
        Assert.Equal(5, load.WaitingRequests); // no aggregate: the priorities add up
    }

    [Fact]
    public void A_page_for_another_served_model_has_no_load_for_ours()
    {
        Assert.Throws<FormatException>(() => EngineMetricNames.ToLoad(PrometheusText.Parse(VllmDataParallel), "qwen", DateTimeOffset.UnixEpoch));
    }

    private static BackendLoad Read(string page) => EngineMetricNames.ToLoad(PrometheusText.Parse(page), Model, DateTimeOffset.UnixEpoch);
}
