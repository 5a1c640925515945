namespace Gorgo.Simulator;

/// <summary>Virtual time for the routing core: a <see cref="TimeProvider"/> whose now is the simulation's, in ms since <see cref="Epoch"/>.</summary>
public sealed class VirtualClock : TimeProvider
{
    /// <summary>The Unix time of virtual time zero.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly long EpochUnixMs = Epoch.ToUnixTimeMilliseconds();

    /// <summary>Virtual now, ms since the start.</summary>
    public double NowMs { get; private set; }

    /// <summary>Moves time forward; it never goes back.</summary>
    public void AdvanceTo(double ms)
    {
        if (ms < NowMs)
        {
            throw new InvalidOperationException($"Virtual time cannot go back from {NowMs} ms to {ms} ms.");
        }

        NowMs = ms;
    }

    /// <summary>The Unix ms of a virtual time, as the router's snapshots carry it.</summary>
    public static long UnixMs(double virtualMs) => EpochUnixMs + (long)Math.Floor(virtualMs);

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => Epoch.AddTicks((long)(NowMs * TimeSpan.TicksPerMillisecond));
}
