using Gorgo.Proxy.Core;
using Gorgo.Replica.Backends;
using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy;

/// <summary>
/// One replica as the proxy sees it: its HTTP backend and monitor, its index in the proxy's
/// <see cref="ProxyAdmission{T}"/> (which counts the requests running on it and those waiting for a slot), and the
/// fixed facts the router needs of it.
/// </summary>
public sealed class ProxyReplica : IAsyncDisposable
{
    private readonly ProxyAdmission<TaskCompletionSource> _admission;

    internal ProxyReplica(ProxyReplicaOptions options, HttpReplicaBackend backend, BackendMonitor monitor, ProxyAdmission<TaskCompletionSource> admission)
    {
        Options = options;
        Backend = backend;
        Monitor = monitor;
        _admission = admission;
        Index = admission.AddReplica();
    }

    /// <summary>The replica's settings.</summary>
    public ProxyReplicaOptions Options { get; }

    /// <summary>The backend requests are sent to.</summary>
    public HttpReplicaBackend Backend { get; }

    /// <summary>Probes health (and RTT) and scrapes metrics.</summary>
    public BackendMonitor Monitor { get; }

    /// <summary>The replica's index in the proxy's admission.</summary>
    public int Index { get; }

    /// <summary>Cap on requests running on the replica at once.</summary>
    public int MaxRunning => _admission.MaxRunningPerReplica;

    /// <summary>Requests running on the replica now (sent by the proxy).</summary>
    public int Running => _admission.Load(Index).Running;

    /// <summary>Requests waiting at the proxy for a slot on this replica.</summary>
    public int Waiting => _admission.Load(Index).Waiting;

    /// <summary>The routing-core view of this replica now.</summary>
    public ReplicaView View(long nowMs) => _admission.Load(Index).ToView(
        new ReplicaView
        {
            Id = Options.Id,
            Region = Options.Region,
            Model = Options.Model,
            Health = Monitor.Healthy ? ReplicaHealth.Healthy : ReplicaHealth.Unhealthy,
            KvCacheUtilization = Monitor.Load?.KvUtilization ?? 0,
            PrefillMsPerToken = Options.PrefillMsPerToken,
            MaxContextTokens = Options.MaxContextTokens,
        },
        MaxRunning,
        nowMs);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Monitor.DisposeAsync().ConfigureAwait(false);
        await Backend.DisposeAsync().ConfigureAwait(false);
    }
}
