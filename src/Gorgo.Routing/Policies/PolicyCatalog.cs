namespace Gorgo.Routing.Policies;

/// <summary>The policies selectable by name, and their factory.</summary>
public static class PolicyCatalog
{
    /// <summary>Candidates in turn.</summary>
    public const string RoundRobin = "round-robin";

    /// <summary>A uniformly random candidate.</summary>
    public const string Random = "random";

    /// <summary>Fewest outstanding tokens (the paper's least-load baseline).</summary>
    public const string LeastLoad = "least-load";

    /// <summary>Longest prefix match with load guards (the paper's prefix-similarity baseline).</summary>
    public const string Prefix = "prefix";

    /// <summary>The less loaded of two random candidates.</summary>
    public const string PowerOfTwo = "power-of-two";

    /// <summary>Minimum estimated TTFT (GORGO).</summary>
    public const string Gorgo = "gorgo";

    /// <summary>Every known policy name.</summary>
    public static IReadOnlyList<string> Names { get; } = [RoundRobin, Random, LeastLoad, Prefix, PowerOfTwo, Gorgo];

    /// <summary>Whether <paramref name="name"/> names a policy (case-insensitive).</summary>
    public static bool IsKnown(string? name) => name is not null && Names.Contains(name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The message given for an unknown policy name.</summary>
    public static string UnknownMessage(string? name) => $"Unknown policy '{name}'. Known policies: {string.Join(", ", Names)}.";

    /// <summary>Creates the policy <paramref name="options"/> names; throws <see cref="ArgumentException"/> for an unknown name.</summary>
    public static IRoutingPolicy Create(PolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Name?.ToLowerInvariant() switch
        {
            RoundRobin => new RoundRobinPolicy(),
            Random => new RandomPolicy(options.Seed),
            LeastLoad => new LeastLoadPolicy(),
            Prefix => new PrefixPolicy(options.Prefix),
            PowerOfTwo => new PowerOfTwoPolicy(options.Seed),
            Gorgo => new GorgoPolicy(options.Gorgo),
            _ => throw new ArgumentException(UnknownMessage(options.Name), nameof(options)),
        };
    }

    /// <summary>Creates a policy by name with default settings.</summary>
    public static IRoutingPolicy Create(string name) => Create(new PolicyOptions { Name = name });
}
