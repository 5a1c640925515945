using Gorgo.Routing;
using Gorgo.Routing.Fleet;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Policies;
using Gorgo.Routing.Tokens;

namespace Gorgo.Benchmarks;

/// <summary>A clock that moves 1 ms each time it is read, so pending work from the previous decision expires (steady state).</summary>
internal sealed class SteppingClock : TimeProvider
{
    private long _nowMs = 1_700_000_000_000;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(++_nowMs);
}

/// <summary>
/// A realistic fleet for decision benchmarks: replicas spread over us-east, eu-central and ap-northeast (AWS backbone
/// RTTs), mixed H100/A100 prefill rates, random running/queued load, and warm caches: every replica holds 16 unrelated
/// 4k-token conversations and the prompt's 1k-token system prefix; one replica per region also holds the first 75 %
/// of the prompt (an earlier turn of the same conversation).
/// </summary>
internal sealed class BenchmarkFleet
{
    private static readonly RttMatrix Rtt = RttMatrix.FromPairs(
    [
        ("us-east", "us-east", 5.3), ("eu-central", "eu-central", 4.0), ("ap-northeast", "ap-northeast", 3.8),
        ("us-east", "eu-central", 92.8), ("us-east", "ap-northeast", 178.6), ("eu-central", "ap-northeast", 231.5),
    ]);

    private BenchmarkFleet(Router router, PromptEncoder encoder, string promptText, int[] promptTokens)
    {
        Router = router;
        Encoder = encoder;
        PromptText = promptText;
        PromptTokens = promptTokens;
        HashBuffer = new ulong[encoder.Hasher.FullBlocks(promptTokens.Length)];
    }

    public Router Router { get; }

    public PromptEncoder Encoder { get; }

    /// <summary>The prompt as text (for the with-tokenization benchmarks).</summary>
    public string PromptText { get; }

    /// <summary>The prompt as token ids (for the pre-tokenized benchmarks).</summary>
    public int[] PromptTokens { get; }

    /// <summary>A reusable buffer for the prompt's block hashes.</summary>
    public ulong[] HashBuffer { get; }

    /// <summary>A reused decision record, as the mesh front door reuses one per request once the previous request is over.</summary>
    public Gorgo.Routing.Decisions.RoutingDecision Record { get; } = new();

    public static BenchmarkFleet Create(string policy, int replicas, int promptTokens, int seed = 42, bool learn = true)
    {
        var random = new Random(seed);
        PromptEncoder encoder = PromptEncoder.CreateDefault();
        string text = TextOfAtLeast(encoder, promptTokens, random);
        int[] tokens = encoder.Tokenize(text);
        var clock = new SteppingClock();
        var router = new Router(
            new RouterOptions
            {
                Region = "us-east",
                Policy = new PolicyOptions { Name = policy, Seed = seed },
                MaxStateAgeMs = double.MaxValue,
                PendingTimeoutMs = 1,
                LearnFromDecisions = learn,
            },
            Rtt,
            clock);

        ulong[] prompt = encoder.Hasher.Hash(tokens);
        int systemBlocks = 1_024 / encoder.Hasher.BlockSize;
        int earlierTurnBlocks = prompt.Length * 3 / 4;
        for (int i = 0; i < replicas; i++)
        {
            string id = $"replica-{i:D3}";
            bool a100 = i % 3 == 2;
            int running = random.Next(0, 33);
            int queued = random.Next(0, 9);
            router.Upsert(new ReplicaView
            {
                Id = id,
                Region = Rtt.Regions[i % 3],
                Model = "llama-3-8b",
                RunningRequests = running,
                QueuedRequests = queued,
                RunningTokens = running * (long)random.Next(500, 2_500),
                QueuedTokens = queued * (long)random.Next(500, 2_500),
                KvCacheUtilization = random.NextDouble(),
                PrefillMsPerToken = a100 ? 0.094 : 0.030,
                TakenAtMs = clock.GetUtcNow().ToUnixTimeMilliseconds(),
            });

            for (int c = 0; c < 16; c++)
            {
                router.RecordCached(id, encoder.Hasher.Hash(RandomTokens(random, 4_096)));
            }

            router.RecordCached(id, prompt.AsSpan(0, Math.Min(systemBlocks, prompt.Length)));
            if (i < 3)
            {
                router.RecordCached(id, prompt.AsSpan(0, earlierTurnBlocks));
            }
        }

        return new BenchmarkFleet(router, encoder, text, tokens[..promptTokens]);
    }

    /// <summary>Routes the pre-tokenized prompt: hash its blocks into the reusable buffer, then decide into the reused record.</summary>
    public Gorgo.Routing.Decisions.RoutingDecision RoutePreTokenized()
    {
        int blocks = Encoder.Hasher.Hash(PromptTokens, HashBuffer);
        var prompt = new PromptBlocks(HashBuffer.AsMemory(0, blocks), PromptTokens.Length, Encoder.Hasher.BlockSize);
        return Router.Route(new RoutingRequest(prompt, "llama-3-8b"), Record);
    }

    /// <summary>Routes the prompt from its text: tokenize, hash, decide.</summary>
    public Gorgo.Routing.Decisions.RoutingDecision RouteText() =>
        Router.Route(new RoutingRequest(Encoder.Encode(PromptText), "llama-3-8b"));

    private static int[] RandomTokens(Random random, int count)
    {
        var tokens = new int[count];
        for (int i = 0; i < count; i++)
        {
            tokens[i] = random.Next(0, 100_000);
        }

        return tokens;
    }

    private static string TextOfAtLeast(PromptEncoder encoder, int tokens, Random random)
    {
        string[] words = ["route", "replica", "prefix", "cache", "latency", "region", "token", "queue", "prefill", "decode", "batch", "network", "the", "a", "of", "to", "and", "estimate", "model", "request", "server", "gossip", "summary", "digest"];
        var text = new System.Text.StringBuilder();
        while (true)
        {
            for (int i = 0; i < 512; i++)
            {
                text.Append(words[random.Next(words.Length)]).Append(i % 17 == 16 ? ".\n" : " ");
            }

            string s = text.ToString();
            if (encoder.Tokenize(s).Length >= tokens)
            {
                return s;
            }
        }
    }
}
