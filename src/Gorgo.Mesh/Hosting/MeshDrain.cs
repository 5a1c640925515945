using Gorgo.Mesh.Gossip;
using Gorgo.Mesh.State;
using Gorgo.Serving;

namespace Gorgo.Mesh.Hosting;

/// <summary>A mesh node's part in its drain: its replicas turn <c>Draining</c> in its digest, which goes to every live peer at once.</summary>
public sealed class MeshDrain(RegionState state, GossipService gossip) : IDrainParticipant
{
    /// <inheritdoc />
    public int ReplicaInFlight => state.InFlight;

    /// <inheritdoc />
    public Task AnnounceDrainAsync(CancellationToken cancellationToken)
    {
        state.BeginDrain();
        return gossip.AnnounceAsync(cancellationToken);
    }
}
