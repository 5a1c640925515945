namespace Gorgo.Cli;

/// <summary>A clock stopped at one instant, so a one-shot command reports state ages exactly as the input gives them.</summary>
internal sealed class FrozenClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
