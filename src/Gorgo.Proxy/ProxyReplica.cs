using Gorgo.Replica.Backends;
using Gorgo.Routing.Fleet;

namespace Gorgo.Proxy;

/// <summary>
/// One replica as the proxy sees it: its HTTP backend and monitor, and the requests the proxy has in flight on it
/// (running there, at most the cap) or waiting at the proxy for a slot. Since every request goes through the proxy,
/// these counts are exact; the view the router sees is rebuilt on every change.
/// </summary>
public sealed class ProxyReplica : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private int _running;
    private int _waiting;
    private long _runningTokens;
    private long _waitingTokens;

    internal ProxyReplica(ProxyReplicaOptions options, HttpReplicaBackend backend, BackendMonitor monitor, int maxRunning)
    {
        Options = options;
        Backend = backend;
        Monitor = monitor;
        MaxRunning = maxRunning;
        Slots = new SemaphoreSlim(maxRunning, maxRunning);
    }

    /// <summary>The replica's settings.</summary>
    public ProxyReplicaOptions Options { get; }

    /// <summary>The backend requests are sent to.</summary>
    public HttpReplicaBackend Backend { get; }

    /// <summary>Probes health (and RTT) and scrapes metrics.</summary>
    public BackendMonitor Monitor { get; }

    /// <summary>Cap on requests running on the replica at once.</summary>
    public int MaxRunning { get; }

    /// <summary>Slots of running requests.</summary>
    internal SemaphoreSlim Slots { get; }

    /// <summary>Requests running on the replica now (sent by the proxy).</summary>
    public int Running
    {
        get
        {
            lock (_gate)
            {
                return _running;
            }
        }
    }

    /// <summary>Requests waiting at the proxy for a slot on this replica.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _waiting;
            }
        }
    }

    /// <summary>The routing-core view of this replica now.</summary>
    public ReplicaView View(long nowMs)
    {
        lock (_gate)
        {
            return new ReplicaView
            {
                Id = Options.Id,
                Region = Options.Region,
                Model = Options.Model,
                Health = Monitor.Healthy ? ReplicaHealth.Healthy : ReplicaHealth.Unhealthy,
                RunningRequests = _running,
                QueuedRequests = _waiting,
                RunningTokens = _runningTokens,
                QueuedTokens = _waitingTokens,
                KvCacheUtilization = Monitor.Load?.KvUtilization ?? 0,
                PrefillMsPerToken = Options.PrefillMsPerToken,
                MaxRunningRequests = MaxRunning,
                MaxContextTokens = Options.MaxContextTokens,
                TakenAtMs = nowMs,
            };
        }
    }

    internal void Enqueue(long tokens) => Change(waiting: 1, waitingTokens: tokens);

    internal void Start(long tokens) => Change(waiting: -1, waitingTokens: -tokens, running: 1, runningTokens: tokens);

    internal void Abandon(long tokens) => Change(waiting: -1, waitingTokens: -tokens);

    internal void Finish(long tokens) => Change(running: -1, runningTokens: -tokens);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Monitor.DisposeAsync().ConfigureAwait(false);
        await Backend.DisposeAsync().ConfigureAwait(false);
        Slots.Dispose();
    }

    private void Change(int waiting = 0, long waitingTokens = 0, int running = 0, long runningTokens = 0)
    {
        lock (_gate)
        {
            _waiting += waiting;
            _waitingTokens += waitingTokens;
            _running += running;
            _runningTokens += runningTokens;
        }
    }
}
