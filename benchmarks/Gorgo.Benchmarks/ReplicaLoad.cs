using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Backends;
using Gorgo.Replica.Hosting;
using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Gorgo.Routing.Tokens;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Benchmarks;

/// <summary>
/// Load test of the emulated replica (<c>replica-load</c>): N concurrent streamed completions of distinct prompts,
/// measured at the client, compared with what the engine model predicts for the same arrivals on a virtual clock.
/// The difference per output token is the emulator's own overhead (HTTP, JSON, SSE, scheduling on real time).
/// </summary>
internal static class ReplicaLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        int[] streamCounts = Arg(args, "--streams", "1,16,64").Split(',').Select(int.Parse).ToArray();
        int promptTokens = int.Parse(Arg(args, "--prompt-tokens", "512"), CultureInfo.InvariantCulture);
        int maxTokens = int.Parse(Arg(args, "--max-tokens", "128"), CultureInfo.InvariantCulture);
        string profileName = Arg(args, "--profile", "h100-8b");
        int maxRunning = int.Parse(Arg(args, "--max-running", "0"), CultureInfo.InvariantCulture);
        EngineProfile profile = EngineProfile.Load(profileName);
        if (maxRunning > 0)
        {
            profile = profile with { Name = $"{profile.Name}-running{maxRunning}", MaxRunningRequests = maxRunning, MaxBatchedTokens = Math.Max(profile.MaxBatchedTokens, maxRunning) };
        }

        await using WebApplication app = ReplicaServer.Build(new ReplicaServerOptions { Port = 0, Model = "load" }, logging => logging.ClearProviders(), profile: profile);
        await app.StartAsync();
        var served = new List<RequestTiming>();
        app.Services.GetRequiredService<EmulatedReplica>().Engine.RequestFinished += timing =>
        {
            lock (served)
            {
                served.Add(timing);
            }
        };
        var baseAddress = new Uri(app.Urls.Single() + "/");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(10) };
        PromptEncoder encoder = PromptEncoder.CreateDefault(profile.BlockSize);
        string[] prompts = Enumerable.Range(0, streamCounts.Max()).Select(i => PromptOf(encoder, promptTokens, i)).ToArray();

        Console.WriteLine($"Emulated replica load: profile {profile.Name}, {promptTokens}-token distinct prompts, {maxTokens} output tokens, all streams sent at once (prediction: the engine model on a virtual clock, fed each request's arrival time at the engine); {Environment.ProcessorCount} cores.");
        Console.WriteLine();
        Console.WriteLine("| streams | TTFT mean measured (ms) | TTFT mean predicted (ms) | ITL mean measured (ms) | ITL mean predicted (ms) | ITL p99 measured (ms) | overhead per token (ms) | tokens/s |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        int seq = 0;
        foreach (int streams in streamCounts)
        {
            // Warm up connections and JIT with a short request per stream.
            await Task.WhenAll(Enumerable.Range(0, Math.Min(streams, 8)).Select(i => StreamAsync(http, $"Warm-up {seq++}. " + prompts[i], 2, Stopwatch.GetTimestamp())));
            lock (served)
            {
                served.Clear();
            }

            long batchStart = Stopwatch.GetTimestamp();
            StreamResult[] results = await Task.WhenAll(Enumerable.Range(0, streams).Select(i => StreamAsync(http, $"Run {streams}. " + prompts[i], maxTokens, batchStart)));
            double wall = Stopwatch.GetElapsedTime(batchStart).TotalSeconds;
            Prediction predicted;
            lock (served)
            {
                predicted = Predict(profile, served, maxTokens);
            }

            double[] ttfts = results.Select(r => r.TtftMs).Order().ToArray();
            if (Environment.GetEnvironmentVariable("GORGO_LOAD_DEBUG") is not null)
            {
                Console.WriteLine(string.Join(" ", results.OrderBy(r => r.SentAtMs).Select(r => $"{r.SentAtMs:F0}+{r.TtftMs:F0}")));
            }

            double[] gaps = results.SelectMany(r => r.GapsMs).Order().ToArray();
            double itlMean = gaps.Average();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {streams} | {ttfts.Average():F1} | {predicted.TtftMean:F1} | {itlMean:F2} | {predicted.ItlMean:F2} | {Percentile(gaps, 0.99):F2} | {itlMean - predicted.ItlMean:F2} | {results.Sum(r => r.Tokens) / wall:F0} |"));
        }

        await app.StopAsync();
        return 0;
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(p * sorted.Length))];

    private static string PromptOf(PromptEncoder encoder, int tokens, int seed)
    {
        var random = new Random(seed);
        string[] words = ["alpha", "beta", "gamma", "delta", "region", "replica", "cache", "token", "route", "queue"];
        var text = new StringBuilder($"Request {seed}:");
        while (encoder.Tokenize(text.ToString()).Length < tokens)
        {
            text.Append(' ').Append(words[random.Next(words.Length)]);
        }

        return text.ToString();
    }

    private static async Task<StreamResult> StreamAsync(HttpClient http, string prompt, int maxTokens, long batchStart)
    {
        string body = JsonSerializer.Serialize(new { model = "load", prompt, max_tokens = maxTokens, stream = true });
        long start = Stopwatch.GetTimestamp();
        double sentAtMs = Stopwatch.GetElapsedTime(batchStart, start).TotalMilliseconds;
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        PipeReader reader = PipeReader.Create(await response.Content.ReadAsStreamAsync());
        var gaps = new List<double>(maxTokens);
        double? first = null;
        long previous = 0;
        int tokens = 0;
        await foreach (string e in SseReader.ReadEventsAsync(reader))
        {
            if (e == "[DONE]" || e.Contains("\"finish_reason\":\"length\"", StringComparison.Ordinal))
            {
                continue;
            }

            long now = Stopwatch.GetTimestamp();
            if (first is null)
            {
                first = Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
            }
            else
            {
                gaps.Add(Stopwatch.GetElapsedTime(previous, now).TotalMilliseconds);
            }

            previous = now;
            tokens++;
        }

        return new StreamResult(sentAtMs, first ?? double.NaN, gaps, tokens);
    }

    /// <summary>
    /// What the engine model predicts, on a virtual clock, for requests of the same prompt lengths arriving at the engine
    /// when the real ones did (distinct prompts, so no cache hits, as in the load).
    /// </summary>
    private static Prediction Predict(EngineProfile profile, IReadOnlyList<RequestTiming> served, int maxTokens)
    {
        var core = new EngineCore(profile);
        var tokens = new List<TokenOutput>();
        var hasher = new Gorgo.Routing.Hashing.BlockHasher(profile.BlockSize);
        double first = served.Min(t => t.ArrivedMs);
        var arrivals = served.Select((t, i) => (t.ArrivedMs - first, new EngineRequest(i, Gorgo.Routing.Hashing.PromptBlocks.FromTokens(DistinctTokens(i, t.PromptTokens), hasher), maxTokens)));
        IReadOnlyList<RequestTiming> timings = VirtualEngineRun.Run(core, arrivals, tokens);
        double[] ttfts = timings.Select(t => t.TtftMs).Order().ToArray();
        double itl = tokens.GroupBy(t => t.RequestId).SelectMany(g => g.OrderBy(t => t.Index).Select(t => t.AtMs).Zip(g.OrderBy(t => t.Index).Skip(1).Select(t => t.AtMs), (a, b) => b - a)).Average();
        return new Prediction(ttfts.Average(), itl);
    }

    private static int[] DistinctTokens(int seed, int count)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(100_000)).ToArray();
    }

    private sealed record StreamResult(double SentAtMs, double TtftMs, List<double> GapsMs, int Tokens);

    private sealed record Prediction(double TtftMean, double ItlMean);
}
