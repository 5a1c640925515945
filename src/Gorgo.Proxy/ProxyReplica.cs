using Gorgo.Proxy.Core;
using Gorgo.Replica.Backends;
using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy;

/// <summary>
/// One replica as the proxy sees it: its HTTP backend and monitor, its index in the proxy's
/// <see cref="ProxyDispatcher{T}"/> (which counts the requests running on it and those waiting for it), and the fixed
/// facts the router needs of it.
/// </summary>
public sealed class ProxyReplica : IAsyncDisposable
{
    internal ProxyReplica(ProxyReplicaOptions options, HttpReplicaBackend backend, BackendMonitor monitor, int index)
    {
        Options = options;
        Backend = backend;
        Monitor = monitor;
        Index = index;
    }

    /// <summary>The replica's settings.</summary>
    public ProxyReplicaOptions Options { get; }

    /// <summary>The backend requests are sent to.</summary>
    public HttpReplicaBackend Backend { get; }

    /// <summary>Probes health (and RTT) and scrapes metrics.</summary>
    public BackendMonitor Monitor { get; }

    /// <summary>The replica's index in the proxy's dispatcher.</summary>
    public int Index { get; }

    /// <summary>The routing-core view of this replica with the proxy's count of its <paramref name="load"/>.</summary>
    public ReplicaView View(ProxyReplicaLoad load, int maxRunning, long nowMs) => load.ToView(
        new ReplicaView
        {
            Id = Options.Id,
            Region = Options.Region,
            Model = Options.Model,
            Health = Monitor.Healthy ? ReplicaHealth.Healthy : ReplicaHealth.Unhealthy,
            PrefillMsPerToken = Options.PrefillMsPerToken,
            MaxContextTokens = Options.MaxContextTokens,
        },
        maxRunning,
        nowMs);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Monitor.DisposeAsync().ConfigureAwait(false);
        await Backend.DisposeAsync().ConfigureAwait(false);
    }
}
