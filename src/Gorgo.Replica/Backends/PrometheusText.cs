using System.Globalization;

namespace Gorgo.Replica.Backends;

/// <summary>One sample of a Prometheus text exposition: metric name, labels and value.</summary>
/// <param name="Name">Metric name (e.g. <c>vllm:num_requests_running</c>).</param>
/// <param name="Labels">Label values by name.</param>
/// <param name="Value">The value.</param>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>Parses Prometheus text exposition format (version 0.0.4) into samples.</summary>
public static class PrometheusText
{
    /// <summary>Every sample in <paramref name="text"/>; comment lines are skipped.</summary>
    /// <exception cref="FormatException">A sample line is malformed.</exception>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        int lineNumber = 0;
        foreach (string raw in text.Split('\n'))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseLine(line, lineNumber));
        }

        return samples;
    }

    private static PrometheusSample ParseLine(string line, int lineNumber)
    {
        int i = 0;
        while (i < line.Length && line[i] is not ('{' or ' ' or '\t'))
        {
            i++;
        }

        string name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i = ParseLabels(line, i + 1, labels, lineNumber);
        }

        string[] rest = line[i..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (name.Length == 0 || rest.Length == 0 || !TryParseValue(rest[0], out double value))
        {
            throw new FormatException($"Line {lineNumber} is not a Prometheus sample: '{line}'.");
        }

        return new PrometheusSample(name, labels, value);
    }

    private static int ParseLabels(string line, int i, Dictionary<string, string> labels, int lineNumber)
    {
        while (true)
        {
            while (i < line.Length && line[i] is ' ' or ',')
            {
                i++;
            }

            if (i < line.Length && line[i] == '}')
            {
                return i + 1;
            }

            int eq = line.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"')
            {
                throw new FormatException($"Line {lineNumber} has a malformed label set.");
            }

            string key = line[i..eq].Trim();
            var value = new System.Text.StringBuilder();
            int j = eq + 2;
            for (; j < line.Length && line[j] != '"'; j++)
            {
                if (line[j] == '\\' && j + 1 < line.Length)
                {
                    j++;
                    value.Append(line[j] == 'n' ? '\n' : line[j]);
                }
                else
                {
                    value.Append(line[j]);
                }
            }

            if (j >= line.Length)
            {
                throw new FormatException($"Line {lineNumber} has an unterminated label value.");
            }

            labels[key] = value.ToString();
            i = j + 1;
        }
    }

    private static bool TryParseValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
            default:
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        }
    }
}

/// <summary>
/// Reads a replica's load from its <c>/metrics</c>, recognising vLLM's and SGLang's metric names. An engine may
/// report one series per data-parallel rank (vLLM's <c>engine</c>, SGLang's <c>dp_rank</c> label: they add up) and the
/// same value once per tensor- or pipeline-parallel rank (SGLang's <c>tp_rank</c>, <c>pp_rank</c>: counted once);
/// with priority scheduling SGLang adds per-priority series beside an aggregate whose <c>priority</c> is empty.
/// </summary>
public static class EngineMetricNames
{
    private static readonly string[] Running = ["vllm:num_requests_running", "sglang:num_running_reqs"];
    private static readonly string[] Waiting = ["vllm:num_requests_waiting", "sglang:num_queue_reqs"];
    private static readonly string[] KvUsage = ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"];
    private static readonly string[] PrefixQueries = ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries"];
    private static readonly string[] PrefixHits = ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits"];
    private static readonly string[] UsedTokens = ["sglang:num_used_tokens"];
    private static readonly string[] RunningPrefill = [RunningPrefillTokensMetric];
    private static readonly string[] DecodeSeconds = [DecodeSecondsPerRequestMetric];
    private static readonly string[] StepSeconds = [DecodeStepSecondsMetric];

    /// <summary>Labels of ranks that each report the same scheduler's value (counted once, not added).</summary>
    private static readonly string[] ReplicatedRanks = ["tp_rank", "pp_rank", "attn_tp_rank"];

    /// <summary>The gauge <c>gorgo replica</c> adds to vLLM's: prompt tokens of running requests not yet prefilled.</summary>
    public const string RunningPrefillTokensMetric = "gorgo:num_running_prefill_tokens";

    /// <summary>The gauge <c>gorgo replica</c> adds to vLLM's: seconds a request holds its batch slot after its first token, recent average.</summary>
    public const string DecodeSecondsPerRequestMetric = "gorgo:request_decode_seconds_avg";

    /// <summary>The gauge <c>gorgo replica</c> adds to vLLM's: seconds one decode step takes, for the running batch (a full one's while idle).</summary>
    public const string DecodeStepSecondsMetric = "gorgo:decode_step_seconds";

    /// <summary>The load described by <paramref name="samples"/> for <paramref name="model"/> (samples of other models are ignored).</summary>
    /// <exception cref="FormatException">Neither vLLM's nor SGLang's running/waiting gauges are present.</exception>
    public static BackendLoad ToLoad(IReadOnlyList<PrometheusSample> samples, string? model, DateTimeOffset takenAt)
    {
        ArgumentNullException.ThrowIfNull(samples);
        double? running = Combine(samples, Running, model, mean: false);
        double? waiting = Combine(samples, Waiting, model, mean: false);
        if (running is null || waiting is null)
        {
            throw new FormatException("The metrics have no running/waiting request gauges (vllm:num_requests_running or sglang:num_running_reqs).");
        }

        double? used = Combine(samples, UsedTokens, model, mean: false);
        return new BackendLoad(
            (int)running.Value,
            (int)waiting.Value,
            used is { } u ? (long)u : null,
            null,
            Math.Clamp(Combine(samples, KvUsage, model, mean: true) ?? 0, 0, 1),
            Combine(samples, PrefixQueries, model, mean: false) is { } q ? (long)q : null,
            Combine(samples, PrefixHits, model, mean: false) is { } h ? (long)h : null,
            takenAt,
            Combine(samples, RunningPrefill, model, mean: false) is { } p ? (long)p : null,
            DecodeMs(samples, model),
            StepMs(samples, model));
    }

    /// <summary>
    /// One decode step in ms: <c>gorgo replica</c>'s gauge, else the mean of the engine's inter-token latency histogram
    /// (vLLM's and SGLang's current and older names); null when none is reported or no token has been generated.
    /// </summary>
    private static double? StepMs(IReadOnlyList<PrometheusSample> samples, string? model)
    {
        if (Combine(samples, StepSeconds, model, mean: true) is > 0 and var step)
        {
            return step * 1000;
        }

        foreach (string name in (string[])["vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds", "sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"])
        {
            if (HistogramMean(samples, name, model) is > 0 and var mean)
            {
                return mean * 1000;
            }
        }

        return null;
    }

    /// <summary>
    /// A request's decode time in ms: <c>gorgo replica</c>'s recent average, else the mean of vLLM's decode-time
    /// histogram, else the mean end-to-end latency less the mean TTFT (vLLM and SGLang both report those); null when
    /// none is reported or no request has finished.
    /// </summary>
    private static double? DecodeMs(IReadOnlyList<PrometheusSample> samples, string? model)
    {
        if (Combine(samples, DecodeSeconds, model, mean: true) is > 0 and var recent)
        {
            return recent * 1000;
        }

        if (HistogramMean(samples, "vllm:request_decode_time_seconds", model) is { } decode)
        {
            return decode * 1000;
        }

        foreach (string prefix in (string[])["vllm", "sglang"])
        {
            if (HistogramMean(samples, prefix + ":e2e_request_latency_seconds", model) is { } e2e
                && HistogramMean(samples, prefix + ":time_to_first_token_seconds", model) is { } ttft && e2e > ttft)
            {
                return (e2e - ttft) * 1000;
            }
        }

        return null;
    }

    /// <summary>A histogram's mean (sum over count, all ranks together), or null when absent or empty.</summary>
    private static double? HistogramMean(IReadOnlyList<PrometheusSample> samples, string name, string? model) =>
        Combine(samples, [name + "_sum"], model, mean: false) is { } sum && Combine(samples, [name + "_count"], model, mean: false) is > 0 and var count
            ? sum / count
            : null;

    private static bool Matches(PrometheusSample s, string? model) =>
        model is null || !s.Labels.TryGetValue("model_name", out string? name) || name == model;

    /// <summary>
    /// The first of <paramref name="names"/> present, over its series: each data-parallel rank's value (the largest of
    /// its replicated ranks' reports) summed, or averaged when <paramref name="mean"/> (a utilisation); null when absent.
    /// </summary>
    private static double? Combine(IReadOnlyList<PrometheusSample> samples, string[] names, string? model, bool mean)
    {
        foreach (string name in names)
        {
            List<PrometheusSample> series = [.. samples.Where(s => s.Name == name && Matches(s, model) && double.IsFinite(s.Value))];
            if (series.Count == 0)
            {
                continue;
            }

            if (series.Any(IsPriorityAggregate))
            {
                series.RemoveAll(s => s.Labels.ContainsKey("priority") && !IsPriorityAggregate(s));
            }

            double[] ranks = [.. series.GroupBy(RankKey, StringComparer.Ordinal).Select(g => g.Max(s => s.Value))];
            return mean ? ranks.Average() : ranks.Sum();
        }

        return null;
    }

    private static bool IsPriorityAggregate(PrometheusSample s) => s.Labels.TryGetValue("priority", out string? p) && p.Length == 0;

    /// <summary>The series' labels but its replicated ranks: the reports of one data-parallel rank share it.</summary>
    private static string RankKey(PrometheusSample s) =>
        string.Join(',', s.Labels.Where(l => !ReplicatedRanks.Contains(l.Key)).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
}
