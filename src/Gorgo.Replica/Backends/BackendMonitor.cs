using System.Diagnostics;
using Gorgo.Routing.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Replica.Backends;

/// <summary>Settings of a <see cref="BackendMonitor"/>.</summary>
public sealed record BackendMonitorOptions
{
    /// <summary>How often <c>/metrics</c> (or the engine's state) is read.</summary>
    public TimeSpan ScrapeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often <c>/health</c> is probed (the GORGO proxy probes every 100 ms).</summary>
    public TimeSpan HealthInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Weight of the newest probe in the smoothed round-trip time (the GORGO proxy uses 0.3).</summary>
    public double RttSmoothing { get; init; } = 0.3;

    /// <summary>Consecutive failed probes after which the backend counts as unhealthy.</summary>
    public int FailuresBeforeUnhealthy { get; init; } = 3;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(ScrapeInterval >= TimeSpan.FromMilliseconds(10), $"scrapeInterval must be at least 10 ms (got {ScrapeInterval}).")
        .Check(HealthInterval >= TimeSpan.FromMilliseconds(10), $"healthInterval must be at least 10 ms (got {HealthInterval}).")
        .Check(double.IsFinite(RttSmoothing) && RttSmoothing is > 0 and <= 1, $"rttSmoothing must be in (0, 1] (got {RttSmoothing}).")
        .Check(FailuresBeforeUnhealthy >= 1, $"failuresBeforeUnhealthy must be at least 1 (got {FailuresBeforeUnhealthy}).")
        .Errors;
}

/// <summary>Keeps a backend's latest load and health current: scrapes on one interval, probes health on another, smooths the probe round trip.</summary>
public sealed class BackendMonitor : IAsyncDisposable
{
    private readonly IReplicaBackend _backend;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task _loops = Task.CompletedTask;
    private BackendLoad? _load;
    private double? _rttMs;
    private int _failures;
    private bool _healthy = true;

    /// <summary>Creates a monitor; call <see cref="Start"/> to begin.</summary>
    public BackendMonitor(IReplicaBackend backend, BackendMonitorOptions? options = null, ILogger? logger = null)
    {
        _backend = backend ?? throw new ArgumentNullException(nameof(backend));
        Options = options ?? new BackendMonitorOptions();
        new OptionsErrors().Include(Options.Validate()).ThrowIfAny("backend monitor options");
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The settings in force.</summary>
    public BackendMonitorOptions Options { get; }

    /// <summary>The latest load read, or null before the first successful scrape.</summary>
    public BackendLoad? Load
    {
        get
        {
            lock (_gate)
            {
                return _load;
            }
        }
    }

    /// <summary>Whether fewer than <see cref="BackendMonitorOptions.FailuresBeforeUnhealthy"/> probes in a row have failed.</summary>
    public bool Healthy
    {
        get
        {
            lock (_gate)
            {
                return _healthy;
            }
        }
    }

    /// <summary>Smoothed (EWMA) round trip of successful health probes in ms, or null before the first.</summary>
    public double? ProbeRttMs
    {
        get
        {
            lock (_gate)
            {
                return _rttMs;
            }
        }
    }

    /// <summary>Raised after every scrape or probe that changed what the monitor knows.</summary>
    public event Action<BackendMonitor>? Updated;

    /// <summary>Starts scraping and probing in the background.</summary>
    public void Start()
    {
        CancellationToken stop = _stop.Token;
        _loops = Task.WhenAll(Task.Run(() => ScrapeLoopAsync(stop)), Task.Run(() => HealthLoopAsync(stop)));
    }

    /// <summary>Reads the load once now.</summary>
    public async Task ScrapeOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            BackendLoad load = await _backend.GetLoadAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _load = load;
            }

            Updated?.Invoke(this);
        }
        catch (BackendException ex)
        {
            _logger.LogDebug(ex, "Scrape failed");
        }
    }

    /// <summary>Probes health once now.</summary>
    public async Task ProbeOnceAsync(CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        bool ok = await _backend.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        double rtt = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        lock (_gate)
        {
            if (ok)
            {
                _failures = 0;
                _healthy = true;
                _rttMs = _rttMs is { } previous ? (Options.RttSmoothing * rtt) + ((1 - Options.RttSmoothing) * previous) : rtt;
            }
            else if (++_failures >= Options.FailuresBeforeUnhealthy)
            {
                _healthy = false;
            }
        }

        Updated?.Invoke(this);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
            try
            {
                await _loops.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }
    }

    private async Task ScrapeLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Options.ScrapeInterval);
        do
        {
            await ScrapeOnceAsync(stop).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
    }

    private async Task HealthLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Options.HealthInterval);
        do
        {
            await ProbeOnceAsync(stop).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false));
    }
}
