using System.Globalization;
using System.Text;
using Gorgo.Engine.Model;

namespace Gorgo.Replica.Hosting;

/// <summary>Request-level metrics of one engine, exported with vLLM's metric names.</summary>
public sealed class EngineMetrics
{
    private long _promptTokens;
    private long _generationTokens;
    private long _succeeded;
    private long _cancelled;

    /// <summary>Time to first token, seconds (vLLM's buckets).</summary>
    public PrometheusHistogram TimeToFirstToken { get; } = new(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0);

    /// <summary>Time between consecutive output tokens, seconds (vLLM's buckets).</summary>
    public PrometheusHistogram InterTokenLatency { get; } = new(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0);

    /// <summary>Submission to last token, seconds (vLLM's buckets).</summary>
    public PrometheusHistogram EndToEndLatency { get; } = new(0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0);

    /// <summary>Requests finished.</summary>
    public long Succeeded => Interlocked.Read(ref _succeeded);

    /// <summary>Requests cancelled before finishing.</summary>
    public long Cancelled => Interlocked.Read(ref _cancelled);

    /// <summary>Records a finished request.</summary>
    public void RecordFinished(RequestTiming timing)
    {
        Interlocked.Add(ref _promptTokens, timing.PromptTokens);
        Interlocked.Add(ref _generationTokens, timing.GeneratedTokens);
        Interlocked.Increment(ref _succeeded);
        TimeToFirstToken.Observe(timing.TtftMs / 1000);
        EndToEndLatency.Observe((timing.FinishedMs - timing.ArrivedMs) / 1000);
    }

    /// <summary>Records the gap between two consecutive tokens of one request.</summary>
    public void RecordInterToken(double ms) => InterTokenLatency.Observe(ms / 1000);

    /// <summary>Records a cancelled request.</summary>
    public void RecordCancelled() => Interlocked.Increment(ref _cancelled);

    /// <summary>Renders the engine's state and these metrics in Prometheus text format with vLLM's names.</summary>
    public string RenderPrometheus(string modelName, EngineState state)
    {
        string labels = $"model_name=\"{Escape(modelName)}\",engine=\"0\"";
        var text = new StringBuilder(4096);
        Gauge(text, "vllm:num_requests_running", "Number of requests in model execution batches.", labels, state.RunningRequests);
        Gauge(text, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", labels, state.WaitingRequests);
        Gauge(text, Backends.EngineMetricNames.RunningPrefillTokensMetric, "Prompt tokens of running requests not yet prefilled (Gorgo extension).", labels, state.RunningPrefillTokens);
        Gauge(text, Backends.EngineMetricNames.DecodeSecondsPerRequestMetric, "Seconds a request holds its batch slot after its first token, recent average (Gorgo extension; 0 when unknown).", labels, state.DecodeMsPerRequest / 1000);
        Gauge(text, Backends.EngineMetricNames.DecodeStepSecondsMetric, "Seconds one decode step takes: the running batch's, a full batch's while idle (Gorgo extension; 0 when unknown).", labels, state.DecodeStepMs / 1000);
        Gauge(text, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", labels, state.KvUtilization);
        Gauge(text, "vllm:gpu_cache_usage_perc", "GPU KV-cache usage (pre-V1 name). 1 means 100 percent usage.", labels, state.KvUtilization);
        Counter(text, "vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.", labels, state.PrefixQueryTokens);
        Counter(text, "vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", labels, state.PrefixHitTokens);
        Counter(text, "vllm:prompt_tokens_total", "Number of prefill tokens processed.", labels, Interlocked.Read(ref _promptTokens));
        Counter(text, "vllm:generation_tokens_total", "Number of generation tokens processed.", labels, Interlocked.Read(ref _generationTokens));
        Counter(text, "vllm:request_success_total", "Count of successfully processed requests.", labels + ",finished_reason=\"length\"", Succeeded);
        Histogram(text, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels, TimeToFirstToken);
        Histogram(text, "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", labels, InterTokenLatency);
        Histogram(text, "vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", labels, EndToEndLatency);
        return text.ToString();
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static void Header(StringBuilder text, string name, string help, string type) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Gauge(StringBuilder text, string name, string help, string labels, double value)
    {
        Header(text, name, help, "gauge");
        text.Append(CultureInfo.InvariantCulture, $"{name}{{{labels}}} {value}\n");
    }

    private static void Counter(StringBuilder text, string name, string help, string labels, long value)
    {
        Header(text, name, help, "counter");
        text.Append(CultureInfo.InvariantCulture, $"{name}{{{labels}}} {value}\n");
    }

    private static void Histogram(StringBuilder text, string name, string help, string labels, PrometheusHistogram histogram)
    {
        Header(text, name, help, "histogram");
        histogram.WriteTo(text, name, labels);
    }
}
