using System.Runtime.CompilerServices;
using Gorgo.Replica.Backends;
using Gorgo.Replica.Hosting;
using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Gorgo.Mesh.Options;
using Gorgo.Routing.Fleet;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.State;

/// <summary>One replica of this node's region: its backend, the monitor that reads its load, and what the cost model needs to know of it.</summary>
public sealed class LocalReplica : IAsyncDisposable
{
    /// <summary>How many batches of waiting requests a replica holds by default before routers count it full.</summary>
    public const int DefaultQueuedBatches = 4;

    private LocalReplica(ReplicaOptions options, IReplicaBackend backend, BackendMonitor monitor, EngineHost? engine, double prefillMsPerToken, int maxRunning, int maxContext)
    {
        MaxQueuedRequests = options.MaxQueuedRequests ?? (DefaultQueuedBatches * maxRunning);
        Options = options;
        Backend = backend;
        Monitor = monitor;
        Engine = engine;
        PrefillMsPerToken = prefillMsPerToken;
        MaxRunningRequests = maxRunning;
        MaxContextTokens = maxContext;
    }

    /// <summary>The replica's configuration.</summary>
    public ReplicaOptions Options { get; }

    /// <summary>Replica id.</summary>
    public string Id => Options.Id;

    /// <summary>The backend requests run on.</summary>
    public IReplicaBackend Backend { get; }

    /// <summary>Reads the backend's load and health on intervals.</summary>
    public BackendMonitor Monitor { get; }

    /// <summary>The in-process engine of an emulated replica (null for HTTP replicas).</summary>
    public EngineHost? Engine { get; }

    /// <summary>t_p of the replica.</summary>
    public double PrefillMsPerToken { get; }

    /// <summary>Batch cap.</summary>
    public int MaxRunningRequests { get; }

    /// <summary>Context length.</summary>
    public int MaxContextTokens { get; }

    /// <summary>Requests that may wait here before routers count the replica full (0: unbounded).</summary>
    public int MaxQueuedRequests { get; }

    /// <summary>Requests running on this replica through this node now, from its own ingress and from other regions'.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    private int _inFlight;

    /// <summary>Cancelled when an injected failure begins (<see cref="Fail"/>); replaced when it ends.</summary>
    private CancellationTokenSource _failure = new();

    private volatile bool _failing;

    /// <summary>Whether an injected failure is under way (<see cref="Fail"/>): it refuses requests and reports itself unhealthy.</summary>
    public bool Failing => _failing;

    /// <summary>Runs a request on the backend, counted in <see cref="InFlight"/> until its stream ends; an injected failure ends it with a <see cref="BackendException"/>.</summary>
    public async IAsyncEnumerable<BackendChunk> GenerateAsync(BackendRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        CancellationToken failure = _failure.Token;
        if (_failing || failure.IsCancellationRequested)
        {
            throw FailureException();
        }

        Interlocked.Increment(ref _inFlight);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, failure);
        IAsyncEnumerator<BackendChunk> chunks = Backend.GenerateAsync(request, linked.Token).GetAsyncEnumerator(linked.Token);
        try
        {
            while (true)
            {
                bool any;
                try
                {
                    any = await chunks.MoveNextAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (failure.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    throw FailureException();
                }

                if (!any)
                {
                    break;
                }

                yield return chunks.Current;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            await chunks.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Injected fault: every step of the emulated engine takes <paramref name="factor"/> times longer; returns null, or why it cannot (an HTTP replica).</summary>
    public string? Slow(double factor)
    {
        if (Engine is null)
        {
            return $"Replica '{Id}' is not emulated; only an emulated engine can be slowed.";
        }

        Engine.Slowdown = factor;
        return null;
    }

    /// <summary>Injected fault: ends the streams it is running with an error, refuses new requests and reports itself unhealthy until <see cref="Restore"/>; returns null.</summary>
    public string? Fail()
    {
        _failing = true;
        _failure.Cancel();
        return null;
    }

    /// <summary>Ends an injected slowness or failure; returns null.</summary>
    public string? Restore()
    {
        if (Engine is not null)
        {
            Engine.Slowdown = 1;
        }

        if (_failing)
        {
            // The cancelled source is left to the collector: a stream that started just before may still link to its token.
            Interlocked.Exchange(ref _failure, new CancellationTokenSource());
            _failing = false;
        }

        return null;
    }

    private BackendException FailureException() => new(BackendFailure.Failed, $"Replica '{Id}' failed (injected fault).", 503);

    /// <summary>Creates the backend described by <paramref name="options"/>.</summary>
    public static LocalReplica Create(ReplicaOptions options, TimeSpan loadInterval, ILoggerFactory loggers)
    {
        var monitorOptions = new BackendMonitorOptions { ScrapeInterval = loadInterval, HealthInterval = TimeSpan.FromSeconds(1) };
        if (options.Kind == ReplicaKind.Emulated)
        {
            EngineProfile profile = EngineProfile.Load(options.Profile);
            EngineProfile truth = options.TrueProfile is { } trueProfile ? EngineProfile.Load(trueProfile) : profile;
            var engine = new EngineHost(truth, loggers.CreateLogger<EngineHost>(), options.StepJitter, options.Seed);
            var backend = new InProcessBackend(engine, options.Model);
            return new LocalReplica(options, backend, new BackendMonitor(backend, monitorOptions, loggers.CreateLogger<BackendMonitor>()), engine, profile.PrefillMsPerToken, profile.MaxRunningRequests, profile.MaxContextTokens);
        }

        var http = new HttpReplicaBackend(new HttpBackendOptions { BaseAddress = new Uri(options.Url!), Model = options.Model, ApiKey = options.ApiKey });
        return new LocalReplica(options, http, new BackendMonitor(http, monitorOptions, loggers.CreateLogger<BackendMonitor>()), null, options.PrefillMsPerToken, options.MaxRunningRequests, options.MaxContextTokens);
    }

    /// <summary>The replica's latest load as a routing-core view, or null before the first reading.</summary>
    public ReplicaView? CurrentView(string region)
    {
        BackendLoad? load = Monitor.Load;
        if (load is null)
        {
            return null;
        }

        long assumed = Options.AssumedPromptTokens;
        return new ReplicaView
        {
            Id = Id,
            Region = region,
            Model = Options.Model,
            Health = Monitor.Healthy && !_failing ? ReplicaHealth.Healthy : ReplicaHealth.Unhealthy,
            RunningRequests = load.RunningRequests,
            QueuedRequests = load.WaitingRequests,
            RunningTokens = load.RunningTokens ?? (load.RunningRequests * assumed),
            RunningPrefillTokens = load.RunningPrefillTokens,
            QueuedTokens = load.WaitingTokens ?? (load.WaitingRequests * assumed),
            DecodeMsPerRequest = load.DecodeMsPerRequest,
            DecodeStepMs = load.DecodeStepMs,
            KvCacheUtilization = load.KvUtilization,
            PrefillMsPerToken = PrefillMsPerToken,
            MaxRunningRequests = MaxRunningRequests,
            MaxQueuedRequests = MaxQueuedRequests,
            MaxContextTokens = MaxContextTokens,
            TakenAtMs = load.TakenAt.ToUnixTimeMilliseconds(),
        };
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Monitor.DisposeAsync().ConfigureAwait(false);
        await Backend.DisposeAsync().ConfigureAwait(false);
        _failure.Dispose();
    }
}
