using System.Runtime.CompilerServices;
using Gorgo.Proxy.Core;
using Gorgo.Replica.Backends;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Fleet;
using Gorgo.Serving;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy;

/// <summary>
/// The centralized proxy: one router in one region that sees every request, so it keeps every replica's load exactly
/// (requests running on it, up to the per-replica cap, and requests waiting at the proxy), probes every replica's
/// <c>/health</c> (EWMA of the probe RTT into the router), scrapes <c>/metrics</c>, and streams responses through.
/// </summary>
public sealed class ProxyState : IFrontDoorBackend, IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly ProxyAdmission<TaskCompletionSource> _admission;

    /// <summary>Creates the proxy's state and starts probing its replicas.</summary>
    public ProxyState(ProxyOptions options, ILoggerFactory loggers, TimeProvider? time = null)
    {
        Options = options.EnsureValid();
        _time = time ?? TimeProvider.System;
        _admission = new ProxyAdmission<TaskCompletionSource>(options.MaxRunningPerReplica);
        ConfiguredRtt = options.BuildRtt();
        Router = new Router(
            new RouterOptions { Region = options.Region, Policy = options.Policy, Cost = options.Cost, TrackPendingWork = false },
            ConfiguredRtt,
            _time);
        var monitorOptions = new BackendMonitorOptions
        {
            HealthInterval = TimeSpan.FromMilliseconds(options.HealthIntervalMs),
            ScrapeInterval = TimeSpan.FromMilliseconds(options.ScrapeIntervalMs),
            RttSmoothing = options.RttSmoothing,
        };
        Replicas = options.Replicas.ToDictionary(
            r => r.Id,
            r =>
            {
                HttpMessageHandler handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2), MaxConnectionsPerServer = 1024 };
                if (options.WanEmulation)
                {
                    handler = new WanDelayHandler(ConfiguredRtt.Get(options.Region, r.Region), handler);
                }

                var backend = new HttpReplicaBackend(
                    new HttpBackendOptions { BaseAddress = new Uri(r.Url), Model = r.Model, ApiKey = r.ApiKey },
                    new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan });
                return new ProxyReplica(r, backend, new BackendMonitor(backend, monitorOptions, loggers.CreateLogger<BackendMonitor>()), _admission);
            },
            StringComparer.Ordinal);
        foreach (ProxyReplica replica in Replicas.Values)
        {
            Publish(replica);
            replica.Monitor.Updated += m => OnMonitor(replica);
            replica.Monitor.Start();
        }
    }

    /// <summary>The configuration.</summary>
    public ProxyOptions Options { get; }

    /// <summary>The configured RTTs.</summary>
    public RttMatrix ConfiguredRtt { get; }

    /// <inheritdoc />
    public Router Router { get; }

    /// <summary>The replicas by id.</summary>
    public IReadOnlyDictionary<string, ProxyReplica> Replicas { get; }

    /// <summary>The front door's settings for this proxy.</summary>
    public FrontDoorOptions FrontDoorOptions => new()
    {
        Region = Options.Region,
        Consistency = "proxy",
        ConfiguredRtt = ConfiguredRtt,
        WanEmulation = Options.WanEmulation,
        DefaultMaxTokens = Options.DefaultMaxTokens,
    };

    /// <inheritdoc />
    public ValueTask BeforeRouteAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public void Decided(RoutingDecision decision)
    {
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<BackendChunk> RunAsync(CandidateScore target, BackendRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ProxyReplica replica = Replicas[target.ReplicaId];
        var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        ProxyTicket<TaskCompletionSource> ticket = _admission.Enqueue(replica.Index, wake, request.Prompt.Blocks.TokenCount);
        Dispatch(replica);
        try
        {
            await wake.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (!_admission.Abandon(ticket))
            {
                Finish(replica, ticket); // it started just as it was cancelled
            }

            Publish(replica);
            throw;
        }

        try
        {
            await foreach (BackendChunk chunk in replica.Backend.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
            {
                yield return chunk;
            }
        }
        finally
        {
            Finish(replica, ticket);
        }
    }

    /// <summary>What the proxy knows now, for <c>/proxy/state</c>.</summary>
    public object Describe() => new
    {
        Options.Region,
        Replicas = Replicas.Values.OrderBy(r => r.Options.Id, StringComparer.Ordinal).Select(r => new
        {
            r.Options.Id,
            r.Options.Region,
            r.Options.Url,
            r.Monitor.Healthy,
            ProbeRttMs = r.Monitor.ProbeRttMs,
            r.Running,
            r.Waiting,
            KvUtilization = r.Monitor.Load?.KvUtilization,
        }),
        RttMs = Router.Rtt.Regions.ToDictionary(r => r, r => Router.Rtt.Get(Options.Region, r)),
    };

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (ProxyReplica replica in Replicas.Values)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts what fits on the replica and republishes its view.</summary>
    private void Dispatch(ProxyReplica replica)
    {
        var started = new List<ProxyTicket<TaskCompletionSource>>();
        _admission.Dispatch(replica.Index, started);
        Publish(replica);
        foreach (ProxyTicket<TaskCompletionSource> ticket in started)
        {
            ticket.Payload.TrySetResult();
        }
    }

    /// <summary>A request's response ended: its slot goes to the next one waiting.</summary>
    private void Finish(ProxyReplica replica, ProxyTicket<TaskCompletionSource> ticket)
    {
        _admission.Release(ticket);
        Dispatch(replica);
    }

    private void Publish(ProxyReplica replica) => Router.Upsert(replica.View(_time.GetUtcNow().ToUnixTimeMilliseconds()));

    /// <summary>A probe or scrape finished: refresh health in the view and fold the region's smoothed probe RTT into the router.</summary>
    private void OnMonitor(ProxyReplica replica)
    {
        Publish(replica);
        double[] rtts = Replicas.Values
            .Where(r => r.Options.Region == replica.Options.Region && r.Monitor.ProbeRttMs is not null)
            .Select(r => r.Monitor.ProbeRttMs!.Value)
            .ToArray();
        if (rtts.Length > 0 && replica.Options.Region != Options.Region)
        {
            double rtt = rtts.Average();
            Router.UpdateRtt(Router.Rtt.With(Options.Region, replica.Options.Region, rtt));
        }
    }
}
