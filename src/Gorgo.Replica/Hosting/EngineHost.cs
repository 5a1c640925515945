using System.Diagnostics;
using System.Threading.Channels;
using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Replica.Hosting;

/// <summary>Runs an <see cref="EngineCore"/> in real time: steps take the profile's time and tokens stream out as they are produced.</summary>
/// <remarks>
/// One dedicated thread (the emulated GPU) plans a step, sleeps until it is due, completes it and hands every produced
/// token to its request's stream. It sleeps on the OS timer rather than the thread pool's timer queue, whose wake-ups
/// run 2–5 ms late on Linux. Steps are scheduled back to back on the ideal timeline (a wake-up under
/// <see cref="LagToleranceMs"/> late is absorbed by the next step), so the emulated pace matches the profile on average.
/// For virtual time use <see cref="VirtualEngineRun"/> on the same <see cref="EngineCore"/>.
/// </remarks>
public sealed class EngineHost : IAsyncDisposable
{
    /// <summary>A wake-up later than this starts the next step from "now" instead of catching up.</summary>
    public const double LagToleranceMs = 5;

    private readonly Lock _gate = new();
    private readonly EngineCore _core;
    private readonly ILogger _logger;
    private readonly Dictionary<long, ActiveRequest> _active = [];
    private readonly List<Channel<CacheEvent>> _cacheSubscribers = [];
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _loop;
    private readonly long _epoch;
    private long _nextId;
    private double? _stepEndsAtMs;

    /// <summary>Starts the engine thread.</summary>
    public EngineHost(EngineProfile profile, ILogger? logger = null, double stepJitter = 0, int seed = 1)
    {
        _core = new EngineCore(profile, stepJitter, seed);
        _logger = logger ?? NullLogger.Instance;
        _epoch = Stopwatch.GetTimestamp();
        Metrics = new EngineMetrics();
        _loop = new Thread(() => Run(_stop.Token)) { IsBackground = true, Name = $"gorgo-engine-{profile.Name}" };
        _loop.Start();
    }

    /// <summary>How many times longer than its profile says each step takes (1: as profiled); a fault injected into a running replica.</summary>
    public double Slowdown
    {
        get
        {
            lock (_gate)
            {
                return _core.Slowdown;
            }
        }

        set
        {
            lock (_gate)
            {
                _core.Slowdown = value;
            }
        }
    }

    /// <summary>The engine's profile.</summary>
    public EngineProfile Profile => _core.Profile;

    /// <summary>Raised on the engine thread for every request that finishes (not for cancelled ones); keep handlers short.</summary>
    public event Action<RequestTiming>? RequestFinished;

    /// <summary>Counters and histograms of served requests (for <c>/metrics</c>).</summary>
    public EngineMetrics Metrics { get; }

    /// <summary>The engine's true state now.</summary>
    public EngineState State
    {
        get
        {
            lock (_gate)
            {
                return _core.State;
            }
        }
    }

    /// <summary>
    /// Forecasts from the engine's true state now (its queue, batch, cache and the step under way) how long until
    /// <paramref name="probe"/>'s first token if it reached the engine in <paramref name="arriveInMs"/>, ms from now;
    /// infinity when the engine would refuse it or the forecast passes <paramref name="boundMs"/>. Requests on their way
    /// to the engine are not known to it, so are not counted. The engine does not change.
    /// </summary>
    public double ForecastFirstTokenInMs(EngineRequest probe, double arriveInMs, double boundMs = 3_600_000)
    {
        ArgumentNullException.ThrowIfNull(probe);
        lock (_gate)
        {
            double now = NowMs;
            double first = _core.ForecastFirstTokenMs(probe, now, now + Math.Max(0, arriveInMs), _stepEndsAtMs, now + boundMs);
            return double.IsFinite(first) ? first - now : double.PositiveInfinity;
        }
    }

    /// <summary>Milliseconds since the host started.</summary>
    public double NowMs => Stopwatch.GetElapsedTime(_epoch).TotalMilliseconds;

    /// <summary>A fresh request id.</summary>
    public long NextRequestId() => Interlocked.Increment(ref _nextId);

    /// <summary>Checks a request against the profile (context length, KV capacity) without submitting it.</summary>
    public EngineRejection Check(EngineRequest request)
    {
        lock (_gate)
        {
            return _core.Check(request);
        }
    }

    /// <summary>Submits a request; on success returns its token stream, which ends after the last token.</summary>
    /// <remarks>Cancelling <paramref name="cancellationToken"/> removes the request from the engine and frees its slot.</remarks>
    public EngineRejection TrySubmit(EngineRequest request, out RequestStream? stream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
        var active = new ActiveRequest(request);
        lock (_gate)
        {
            EngineRejection rejection = _core.Submit(request, NowMs);
            if (rejection != EngineRejection.None)
            {
                stream = null;
                return rejection;
            }

            _active.Add(request.Id, active);
        }

        active.Registration = cancellationToken.Register(
            static state =>
            {
                (EngineHost host, long id) = ((EngineHost, long))state!;
                host.Cancel(id);
            },
            (this, request.Id));
        stream = new RequestStream(request.Id, active.Tokens.Reader, active.Done.Task);
        _wake.Release();
        return EngineRejection.None;
    }

    /// <summary>Removes a request (e.g. its client went away); its stream ends as cancelled.</summary>
    public bool Cancel(long requestId)
    {
        ActiveRequest? active;
        lock (_gate)
        {
            if (!_active.Remove(requestId, out active))
            {
                return false;
            }

            _core.Cancel(requestId);
        }

        Metrics.RecordCancelled();
        active.Tokens.Writer.TryComplete(new OperationCanceledException("The request was cancelled."));
        active.Done.TrySetCanceled();
        active.Registration.Dispose();
        _wake.Release();
        return true;
    }

    /// <summary>The hashes of the blocks the engine's KV cache holds now, in no order.</summary>
    public ulong[] CachedBlocks()
    {
        lock (_gate)
        {
            return _core.Cache.Hashes();
        }
    }

    /// <summary>A stream of this engine's cache events (block stored/removed), from now on.</summary>
    public ChannelReader<CacheEvent> SubscribeCacheEvents()
    {
        var channel = Channel.CreateUnbounded<CacheEvent>(new UnboundedChannelOptions { SingleWriter = true });
        lock (_gate)
        {
            _cacheSubscribers.Add(channel);
        }

        return channel.Reader;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        await Task.Run(() => _loop.Join()).ConfigureAwait(false);

        List<ActiveRequest> left;
        lock (_gate)
        {
            left = [.. _active.Values];
            _active.Clear();
            foreach (Channel<CacheEvent> subscriber in _cacheSubscribers)
            {
                subscriber.Writer.TryComplete();
            }
        }

        foreach (ActiveRequest active in left)
        {
            active.Tokens.Writer.TryComplete(new OperationCanceledException("The engine stopped."));
            active.Done.TrySetCanceled();
            active.Registration.Dispose();
        }

        _stop.Dispose();
        _wake.Dispose();
    }

    private void Run(CancellationToken stop)
    {
        var tokens = new List<TokenOutput>();
        var finished = new List<RequestTiming>();
        var events = new List<CacheEvent>();
        double previousEnd = double.NegativeInfinity;
        while (!stop.IsCancellationRequested)
        {
            double now = NowMs;
            double start = now - previousEnd < LagToleranceMs ? previousEnd : now;
            if (start == now && double.IsFinite(previousEnd) && _core.HasWork)
            {
                _logger.LogDebug("Engine {Profile} fell {LagMs:F1} ms behind its step schedule (CPU starved?)", _core.Profile.Name, now - previousEnd);
            }

            double? duration;
            lock (_gate)
            {
                duration = _core.PlanStep(start);
                _stepEndsAtMs = start + duration;
            }

            if (duration is null)
            {
                try
                {
                    _wake.Wait(stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            double end = start + duration.Value;
            double wait = end - NowMs;
            if (wait > 0 && stop.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Ceiling(wait))))
            {
                return;
            }

            lock (_gate)
            {
                _core.CompleteStep(end, tokens, finished);
                _core.DrainCacheEvents(events);
                _stepEndsAtMs = null;
            }

            previousEnd = end;
            Dispatch(tokens, finished, events);
        }
    }

    private void Dispatch(List<TokenOutput> tokens, List<RequestTiming> finished, List<CacheEvent> events)
    {
        var done = new List<(ActiveRequest Active, RequestTiming Timing)>(finished.Count);
        lock (_gate)
        {
            foreach (TokenOutput token in tokens)
            {
                if (_active.TryGetValue(token.RequestId, out ActiveRequest? active))
                {
                    if (token.Index > 0)
                    {
                        Metrics.RecordInterToken(token.AtMs - active.LastTokenMs);
                    }

                    active.LastTokenMs = token.AtMs;
                    active.Tokens.Writer.TryWrite(token);
                }
            }

            foreach (RequestTiming timing in finished)
            {
                if (_active.Remove(timing.RequestId, out ActiveRequest? active))
                {
                    done.Add((active, timing));
                }
            }

            foreach (Channel<CacheEvent> subscriber in _cacheSubscribers)
            {
                foreach (CacheEvent e in events)
                {
                    subscriber.Writer.TryWrite(e);
                }
            }
        }

        // Outside the lock: disposing a registration waits for a running cancellation callback, which takes the lock.
        foreach ((ActiveRequest active, RequestTiming timing) in done)
        {
            Metrics.RecordFinished(timing);
            RequestFinished?.Invoke(timing);
            active.Tokens.Writer.TryComplete();
            active.Done.TrySetResult(timing);
            active.Registration.Dispose();
        }

        tokens.Clear();
        finished.Clear();
        events.Clear();
    }

    private sealed class ActiveRequest(EngineRequest request)
    {
        public EngineRequest Request { get; } = request;

        public Channel<TokenOutput> Tokens { get; } = Channel.CreateUnbounded<TokenOutput>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

        public TaskCompletionSource<RequestTiming> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationTokenRegistration Registration { get; set; }

        public double LastTokenMs { get; set; }
    }
}

/// <summary>The tokens of one submitted request, and its timing once finished.</summary>
/// <param name="RequestId">The engine request id.</param>
/// <param name="Tokens">Tokens in order; completes after the last, or faults with <see cref="OperationCanceledException"/> when cancelled.</param>
/// <param name="Completion">The request's timing when finished.</param>
public sealed record RequestStream(long RequestId, ChannelReader<TokenOutput> Tokens, Task<RequestTiming> Completion);
