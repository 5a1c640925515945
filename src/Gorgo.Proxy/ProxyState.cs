using System.Collections.Concurrent;
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
/// The centralized proxy: one router in one region that sees every request, so it keeps every replica's load exactly;
/// its <see cref="ProxyDispatcher{T}"/> (the paper's late binding by default: one global queue, the head routed when a
/// replica has a free slot and KV room, looked at again every re-dispatch interval) decides when a request goes; it
/// probes every replica's <c>/health</c> (EWMA of the probe RTT into the router), scrapes <c>/metrics</c> (KV-cache use
/// for the gate), and streams responses through.
/// </summary>
public sealed class ProxyState : IFrontDoorBackend, IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly ProxyDispatcher<Waiter> _dispatcher;
    private readonly ConcurrentDictionary<BackendRequest, ProxyTicket<Waiter>> _tickets = new(ReferenceEqualityComparer.Instance);
    private readonly ProxyChooser<Waiter> _choose;
    private readonly Action<ProxyTicket<Waiter>> _wake;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _redispatch;
    private readonly ProxyReplica[] _byIndex;

    /// <summary>Creates the proxy's state and starts probing its replicas.</summary>
    public ProxyState(ProxyOptions options, ILoggerFactory loggers, TimeProvider? time = null)
    {
        Options = options.EnsureValid();
        _time = time ?? TimeProvider.System;
        _dispatcher = new ProxyDispatcher<Waiter>(options.Dispatch, Publish);
        _choose = Choose;
        _wake = static ticket => ticket.Payload.Started.TrySetResult();
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
                return new ProxyReplica(r, backend, new BackendMonitor(backend, monitorOptions, loggers.CreateLogger<BackendMonitor>()), _dispatcher.AddReplica());
            },
            StringComparer.Ordinal);
        _byIndex = Replicas.Values.OrderBy(r => r.Index).ToArray();
        foreach (ProxyReplica replica in Replicas.Values)
        {
            _dispatcher.Republish(replica.Index);
            replica.Monitor.Updated += m => OnMonitor(replica);
            replica.Monitor.Start();
        }

        _redispatch = Task.Run(() => RedispatchAsync(_stop.Token));
    }

    /// <summary>The configuration.</summary>
    public ProxyOptions Options { get; }

    /// <summary>The configured RTTs.</summary>
    public RttMatrix ConfiguredRtt { get; }

    /// <inheritdoc />
    public Router Router { get; }

    /// <summary>The replicas by id.</summary>
    public IReadOnlyDictionary<string, ProxyReplica> Replicas { get; }

    /// <summary>Requests waiting in the proxy's global queue (late binding).</summary>
    public int Queued => _dispatcher.Queued;

    /// <summary>The proxy's count of a replica's load.</summary>
    public ProxyReplicaLoad LoadOf(ProxyReplica replica) => _dispatcher.Load((replica ?? throw new ArgumentNullException(nameof(replica))).Index);

    /// <summary>The front door's settings for this proxy.</summary>
    public FrontDoorOptions FrontDoorOptions => new()
    {
        Region = Options.Region,
        Consistency = "proxy",
        ConfiguredRtt = ConfiguredRtt,
        WanEmulation = Options.WanEmulation,
        DefaultMaxTokens = Options.DefaultMaxTokens,
        Resilience = Options.Resilience,
    };

    /// <inheritdoc />
    /// <remarks>
    /// Each waiter keeps a record of its own: under late binding the dispatcher may be writing a waiter's decision when
    /// the request is cancelled, so the front door's reused <paramref name="into"/> is not written here.
    /// </remarks>
    public async ValueTask<RoutingDecision> RouteAsync(RoutingRequest routing, BackendRequest request, RoutingDecision into, CancellationToken cancellationToken)
    {
        var waiter = new Waiter(routing);
        ProxyTicket<Waiter> ticket;
        if (_dispatcher.Options.Binding == ProxyBinding.Late)
        {
            ticket = _dispatcher.Submit(waiter, routing.Prompt.TokenCount);
        }
        else
        {
            waiter.Decision = Router.Route(routing); // on arrival: routed now, it waits for a slot on that replica
            ProxyReplica chosen = Replicas[waiter.Decision.Chosen.ReplicaId];
            ticket = _dispatcher.Submit(waiter, routing.Prompt.TokenCount, chosen.Index);
        }

        _tickets[request] = ticket;
        Dispatch();
        try
        {
            await waiter.Started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RoutingException)
        {
            _tickets.TryRemove(request, out _);
            if (!_dispatcher.Abandon(ticket))
            {
                Finish(ticket); // it started just as it was cancelled
            }

            throw;
        }

        return waiter.Decision!;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<BackendChunk> RunAsync(CandidateScore target, BackendRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ProxyReplica replica = Replicas[target.ReplicaId];
        if (!_tickets.TryRemove(request, out ProxyTicket<Waiter>? ticket) || ticket.Replica != replica.Index)
        {
            // A retry on the runner-up: it waits for a slot on that replica like an on-arrival request.
            if (ticket is not null)
            {
                _dispatcher.Abandon(ticket);
            }

            var waiter = new Waiter(default);
            ticket = _dispatcher.Submit(waiter, request.Prompt.Blocks.TokenCount, replica.Index);
            Dispatch();
            try
            {
                await waiter.Started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                if (!_dispatcher.Abandon(ticket))
                {
                    Finish(ticket);
                }

                throw;
            }
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
            Finish(ticket);
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
            _dispatcher.Load(r.Index).Running,
            _dispatcher.Load(r.Index).Waiting,
            KvUtilization = r.Monitor.Load?.KvUtilization,
            Eligible = _dispatcher.IsEligible(r.Index),
        }),
        Dispatch = new { Binding = _dispatcher.Options.Binding.ToString(), _dispatcher.Queued, _dispatcher.Options.MaxRunningPerReplica, _dispatcher.Options.MaxKvUtilization },
        RttMs = Router.Rtt.Regions.ToDictionary(r => r, r => Router.Rtt.Get(Options.Region, r)),
    };

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _redispatch.ConfigureAwait(false);
        _stop.Dispose();
        foreach (ProxyReplica replica in Replicas.Values)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Starts what can start now and wakes the requests started (their continuations run elsewhere).</summary>
    private void Dispatch() => _dispatcher.Dispatch(_choose, _wake);

    /// <summary>Late binding's choice for the request at the head of the queue: the best replica with a free slot and KV room.</summary>
    private int Choose(ProxyTicket<Waiter> ticket)
    {
        Waiter waiter = ticket.Payload;
        try
        {
            waiter.Decision = Router.Route(waiter.Routing with { RequireFreeSlot = true, MaxKvUtilization = _dispatcher.Options.MaxKvUtilization });
            return Replicas[waiter.Decision.Chosen.ReplicaId].Index;
        }
        catch (RoutingException ex) when (ex.Failure is RoutingFailure.Saturated or RoutingFailure.NoHealthyReplica)
        {
            return ProxyDispatcher<Waiter>.Wait;
        }
        catch (RoutingException ex)
        {
            waiter.Started.TrySetException(ex); // e.g. too long for every replica: answered now, not kept in the queue
            return ProxyDispatcher<Waiter>.Refused;
        }
    }

    /// <summary>A request's response ended: its slot goes to the next one.</summary>
    private void Finish(ProxyTicket<Waiter> ticket)
    {
        _dispatcher.Release(ticket);
        Dispatch();
    }

    /// <summary>Looks at the queue again every re-dispatch interval while requests wait (a replica's KV use may have dropped).</summary>
    private async Task RedispatchAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_dispatcher.Options.RedispatchIntervalMs), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (_dispatcher.Queued > 0)
                {
                    Dispatch();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A request at the proxy: how it is routed, what was decided, and what wakes it when it starts.</summary>
    private sealed class Waiter(RoutingRequest routing)
    {
        public RoutingRequest Routing { get; } = routing;

        public RoutingDecision? Decision { get; set; }

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The dispatcher's report of a replica's load (under its lock, in order): the router's view of it is rebuilt.</summary>
    private void Publish(int index, ProxyReplicaLoad load) =>
        Router.Upsert(_byIndex[index].View(load, _dispatcher.Options.MaxRunningPerReplica, _time.GetUtcNow().ToUnixTimeMilliseconds()));

    /// <summary>A probe or scrape finished: health and KV use reach the view and the gate, the region's smoothed probe RTT the router.</summary>
    private void OnMonitor(ProxyReplica replica)
    {
        _dispatcher.SetKvUtilization(replica.Index, replica.Monitor.Load?.KvUtilization ?? 0); // republishes the view, health included
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
