using Gorgo.Replica.Backends;

namespace Gorgo.Replica.Tests;

/// <summary>How a replica's decode time per request is read from its <c>/metrics</c> page.</summary>
public sealed class DecodeTimeMetricsTests
{
    private const string Gauges = """
        vllm:num_requests_running{engine="0",model_name="m"} 3.0
        vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
        """;

    private static double? DecodeMs(string page) =>
        EngineMetricNames.ToLoad(PrometheusText.Parse(Gauges + "\n" + page), "m", DateTimeOffset.UnixEpoch).DecodeMsPerRequest;

    [Fact]
    public void Vllm_decode_time_histograms_of_every_engine_give_the_mean_decode_time()
    {
        const string page = """
            vllm:request_decode_time_seconds_count{engine="0",model_name="m"} 12.0
            vllm:request_decode_time_seconds_sum{engine="0",model_name="m"} 18.0
            vllm:request_decode_time_seconds_count{engine="1",model_name="m"} 8.0
            vllm:request_decode_time_seconds_sum{engine="1",model_name="m"} 12.0
            """;
        Assert.Equal(1_500, DecodeMs(page)!.Value, 9); // 30 s over 20 requests
    }

    [Fact]
    public void Without_a_decode_histogram_the_mean_end_to_end_time_less_the_mean_ttft_is_used()
    {
        const string page = """
            sglang:e2e_request_latency_seconds_count{model_name="m",tp_rank="0"} 20.0
            sglang:e2e_request_latency_seconds_sum{model_name="m",tp_rank="0"} 50.0
            sglang:time_to_first_token_seconds_count{model_name="m",tp_rank="0"} 20.0
            sglang:time_to_first_token_seconds_sum{model_name="m",tp_rank="0"} 10.0
            """;
        Assert.Equal(2_000, DecodeMs(page)!.Value, 9); // 2.5 s end to end, 0.5 s to the first token
    }

    [Fact]
    public void The_gorgo_replicas_recent_average_is_preferred_to_the_lifetime_histograms()
    {
        string page = $"""
            {EngineMetricNames.DecodeSecondsPerRequestMetric}{"{"}model_name="m",engine="0"{"}"} 1.2
            vllm:request_decode_time_seconds_count{"{"}engine="0",model_name="m"{"}"} 10.0
            vllm:request_decode_time_seconds_sum{"{"}engine="0",model_name="m"{"}"} 30.0
            """;
        Assert.Equal(1_200, DecodeMs(page)!.Value, 9);
    }

    private static double? StepMs(string page) =>
        EngineMetricNames.ToLoad(PrometheusText.Parse(Gauges + "\n" + page), "m", DateTimeOffset.UnixEpoch).DecodeStepMs;

    [Theory]
    [InlineData("vllm:inter_token_latency_seconds")]
    [InlineData("vllm:time_per_output_token_seconds")]
    [InlineData("sglang:inter_token_latency_seconds")]
    public void The_decode_step_is_the_mean_of_the_engines_inter_token_latency_histogram(string name)
    {
        string page = $$"""
            {{name}}_count{engine="0",model_name="m"} 1000.0
            {{name}}_sum{engine="0",model_name="m"} 9.0
            """;
        Assert.Equal(9, StepMs(page)!.Value, 9); // 9 s over 1,000 token gaps
    }

    [Fact]
    public void The_gorgo_replicas_step_gauge_is_preferred_and_a_replica_without_tokens_has_no_step()
    {
        string page = $$"""
            {{EngineMetricNames.DecodeStepSecondsMetric}}{model_name="m",engine="0"} 0.0075
            vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 10.0
            vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 1.0
            """;
        Assert.Equal(7.5, StepMs(page)!.Value, 9);
        Assert.Null(StepMs(""));
        Assert.Null(StepMs("""
            vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 0.0
            vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 0.0
            """));
    }

    [Fact]
    public void A_replica_that_has_finished_nothing_or_reports_nothing_has_no_decode_time()
    {
        Assert.Null(DecodeMs(""));
        Assert.Null(DecodeMs("""
            vllm:request_decode_time_seconds_count{engine="0",model_name="m"} 0.0
            vllm:request_decode_time_seconds_sum{engine="0",model_name="m"} 0.0
            """));
        Assert.Null(DecodeMs($"{EngineMetricNames.DecodeSecondsPerRequestMetric}{"{"}model_name=\"m\"{"}"} 0"));
    }
}
