using Gorgo.Routing.Fleet;
using Gorgo.Routing.Index;

namespace Gorgo.Mesh.Core.Wire;

/// <summary>
/// An encoded digest decoded into what a node applies: the digest, a router view of each replica (its load as old as
/// the digest says, for a receiver whose clock is not behind the origin's) and its prefix summary.
/// </summary>
public sealed class DecodedDigest
{
    /// <summary>Decodes <paramref name="encoded"/>.</summary>
    /// <exception cref="MessagePack.MessagePackSerializationException">The digest is malformed.</exception>
    public DecodedDigest(ReadOnlyMemory<byte> encoded)
    {
        Digest = GossipCodec.Decode<Digest>(encoded);
        Views = new ReplicaView[Digest.Replicas.Length];
        Summaries = new PrefixSummary?[Digest.Replicas.Length];
        for (int i = 0; i < Views.Length; i++)
        {
            ReplicaDigest r = Digest.Replicas[i];
            Views[i] = View(Digest.Origin, r, Digest.CreatedAtUnixMs - r.AgeMs);
            Summaries[i] = r.HotBlocks is { } hot ? new PrefixSummary(r.Id, hot) : null;
        }
    }

    /// <summary>The digest.</summary>
    public Digest Digest { get; }

    /// <summary>Each replica's view, taken <c>AgeMs</c> before the digest was made.</summary>
    public ReplicaView[] Views { get; }

    /// <summary>Each replica's hot blocks as a summary (null when the digest shares none).</summary>
    public PrefixSummary?[] Summaries { get; }

    /// <summary>The router view of a replica of <paramref name="origin"/> as a digest describes it, taken at <paramref name="takenAtMs"/>.</summary>
    public static ReplicaView View(string origin, ReplicaDigest r, long takenAtMs) => new()
    {
        Id = r.Id,
        Region = origin,
        Model = r.Model,
        Health = (ReplicaHealth)r.Health,
        RunningRequests = r.Running,
        QueuedRequests = r.Queued,
        RunningTokens = r.RunningTokens,
        RunningPrefillTokens = r.RunningPrefillTokens >= 0 ? r.RunningPrefillTokens : null,
        QueuedTokens = r.QueuedTokens,
        KvCacheUtilization = r.KvUtilization,
        PrefillMsPerToken = r.PrefillMsPerToken,
        MaxRunningRequests = r.MaxRunning,
        MaxQueuedRequests = r.MaxQueued,
        MaxContextTokens = r.MaxContextTokens,
        TakenAtMs = takenAtMs,
    };
}

/// <summary>Turns an encoded digest into a <see cref="DecodedDigest"/>; this one decodes every digest it is given.</summary>
public class DigestDecoder
{
    /// <summary>Decodes the digest whose header is <paramref name="header"/>.</summary>
    /// <exception cref="MessagePack.MessagePackSerializationException">The digest is malformed.</exception>
    public virtual DecodedDigest Decode(in DigestHeader header, ReadOnlyMemory<byte> encoded) => new(encoded);
}

/// <summary>
/// A decoder shared by many nodes in one process (the simulator's): a digest identified by its origin, incarnation
/// and version decodes to the same content wherever it arrives, so it is decoded once and its views and summaries
/// are shared (none of them is changed by a node). Keeps the few newest digests of each origin.
/// </summary>
public sealed class SharedDigestDecoder : DigestDecoder
{
    private const int KeptPerOrigin = 4;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<(long Incarnation, long Version, DecodedDigest Decoded)>> _byOrigin = new(StringComparer.Ordinal);

    /// <summary>Digests decoded (not found among those kept).</summary>
    public long Decoded { get; private set; }

    /// <inheritdoc />
    public override DecodedDigest Decode(in DigestHeader header, ReadOnlyMemory<byte> encoded)
    {
        lock (_gate)
        {
            if (!_byOrigin.TryGetValue(header.Origin, out var kept))
            {
                _byOrigin[header.Origin] = kept = new(KeptPerOrigin + 1);
            }

            foreach ((long incarnation, long version, DecodedDigest decoded) in kept)
            {
                if (incarnation == header.Incarnation && version == header.Version)
                {
                    return decoded;
                }
            }

            var fresh = new DecodedDigest(encoded);
            Decoded++;
            kept.Add((header.Incarnation, header.Version, fresh));
            if (kept.Count > KeptPerOrigin)
            {
                int oldest = 0;
                for (int i = 1; i < kept.Count; i++)
                {
                    if (new DigestHeader(header.Origin, kept[oldest].Incarnation, kept[oldest].Version, 0).IsNewerThan(kept[i].Incarnation, kept[i].Version))
                    {
                        oldest = i;
                    }
                }

                kept.RemoveAt(oldest);
            }

            return fresh;
        }
    }
}
