using System.IO.Pipelines;
using System.Text;
using Gorgo.Replica.Backends;

namespace Gorgo.Replica.Tests;

public class SseReaderTests
{
    private static async Task<List<string>> ReadAsync(params string[] pieces)
    {
        var pipe = new Pipe();
        var events = new List<string>();
        Task reading = Task.Run(async () =>
        {
            await foreach (string e in SseReader.ReadEventsAsync(pipe.Reader))
            {
                events.Add(e);
            }
        });

        foreach (string piece in pieces)
        {
            await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes(piece));
            await Task.Yield();
        }

        await pipe.Writer.CompleteAsync();
        await reading;
        return events;
    }

    [Fact]
    public async Task Reads_events_split_anywhere_across_reads()
    {
        List<string> events = await ReadAsync("da", "ta: {\"a\":", "1}\n", "\ndata: two\n\nda", "ta: [DONE]\n\n");
        Assert.Equal(["{\"a\":1}", "two", "[DONE]"], events);
    }

    [Fact]
    public async Task Handles_crlf_cr_comments_other_fields_and_multiline_data()
    {
        List<string> events = await ReadAsync(": keep-alive\r\n\r\nevent: x\r\ndata: line1\r\ndata:line2\r", "\n\r\ndata: last\r\r");
        Assert.Equal(["line1\nline2", "last"], events);
    }

    [Fact]
    public async Task A_final_event_without_a_blank_line_is_still_delivered()
    {
        Assert.Equal(["tail"], await ReadAsync("data: tail"));
    }
}

public class PrometheusTextTests
{
    [Fact]
    public void Parses_labels_escapes_and_special_values()
    {
        IReadOnlyList<PrometheusSample> samples = PrometheusText.Parse("""
            # HELP x help
            # TYPE x gauge
            x{a="1",b="q\"uote"} 3.5
            y 7 1700000000000
            z_bucket{le="+Inf"} +Inf
            """);
        Assert.Equal(3, samples.Count);
        Assert.Equal("q\"uote", samples[0].Labels["b"]);
        Assert.Equal(7, samples[1].Value);
        Assert.Equal(double.PositiveInfinity, samples[2].Value);
        Assert.Throws<FormatException>(() => PrometheusText.Parse("broken{a=1} 2"));
    }

    [Fact]
    public void Recognises_sglang_metric_names()
    {
        IReadOnlyList<PrometheusSample> samples = PrometheusText.Parse("""
            sglang:num_running_reqs{model_name="qwen"} 4
            sglang:num_queue_reqs{model_name="qwen"} 9
            sglang:token_usage{model_name="qwen"} 0.42
            sglang:num_used_tokens{model_name="qwen"} 12345
            """);
        BackendLoad load = EngineMetricNames.ToLoad(samples, "qwen", DateTimeOffset.UnixEpoch);
        Assert.Equal((4, 9, 0.42, 12345L), (load.RunningRequests, load.WaitingRequests, load.KvUtilization, load.RunningTokens!.Value));
    }

    [Fact]
    public void Ignores_other_models_and_rejects_metrics_without_load_gauges()
    {
        IReadOnlyList<PrometheusSample> samples = PrometheusText.Parse("""
            vllm:num_requests_running{model_name="a"} 2
            vllm:num_requests_running{model_name="b"} 5
            vllm:num_requests_waiting{model_name="a"} 1
            vllm:num_requests_waiting{model_name="b"} 1
            """);
        Assert.Equal(2, EngineMetricNames.ToLoad(samples, "a", DateTimeOffset.UnixEpoch).RunningRequests);
        Assert.Throws<FormatException>(() => EngineMetricNames.ToLoad(PrometheusText.Parse("up 1"), null, DateTimeOffset.UnixEpoch));
    }
}
