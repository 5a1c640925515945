using Gorgo.Routing.Options;

namespace Gorgo.Serving;

/// <summary>Admission control of a front door.</summary>
public sealed class AdmissionOptions
{
    /// <summary>Requests served at once.</summary>
    public int MaxConcurrentRequests { get; set; } = 512;

    /// <summary>Requests waiting for a slot; beyond it the front door answers 429.</summary>
    public int MaxQueuedRequests { get; set; } = 2_048;

    /// <summary>Longest wait for a slot before 429.</summary>
    public int QueueTimeoutMs { get; set; } = 10_000;

    /// <summary>Retry-After (seconds) sent with 429, and with 503 while the node drains.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>On shutdown (SIGTERM, Ctrl+C), how long requests in flight may run on before the node leaves anyway.</summary>
    public int DrainTimeoutMs { get; set; } = 30_000;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(MaxConcurrentRequests >= 1 && MaxQueuedRequests >= 0 && QueueTimeoutMs >= 0 && RetryAfterSeconds >= 1, "Admission needs MaxConcurrentRequests >= 1, MaxQueuedRequests >= 0, QueueTimeoutMs >= 0 and RetryAfterSeconds >= 1.")
        .Check(DrainTimeoutMs is >= 0 and <= 600_000, $"Admission:DrainTimeoutMs must be between 0 and 600000 (got {DrainTimeoutMs}).")
        .Errors;
}

/// <summary>Bounds the requests a front door serves at once; a bounded queue waits for a slot, beyond it requests are refused (429).</summary>
public sealed class AdmissionGate(AdmissionOptions options)
{
    /// <summary>The settings in force.</summary>
    public AdmissionOptions Options { get; } = options;

    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
    private readonly int _maxQueued = options.MaxQueuedRequests;
    private readonly int _queueTimeoutMs = options.QueueTimeoutMs;
    private readonly int _maxConcurrent = options.MaxConcurrentRequests;
    private int _waiting;
    private volatile bool _draining;

    /// <summary>Whether the node is draining: new requests are refused (503) while those admitted finish.</summary>
    public bool IsDraining => _draining;

    /// <summary>Refuses every request from now on; those already admitted or queued go on.</summary>
    public void BeginDrain() => _draining = true;

    /// <summary>Requests waiting for a slot now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Requests being served now.</summary>
    public int Serving => _maxConcurrent - _slots.CurrentCount;

    /// <summary>Takes a slot (waiting in the bounded queue if needed); null when the node is saturated.</summary>
    public async ValueTask<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None))
        {
            return new Lease(_slots);
        }

        if (Interlocked.Increment(ref _waiting) > _maxQueued)
        {
            Interlocked.Decrement(ref _waiting);
            return null;
        }

        try
        {
            return await _slots.WaitAsync(_queueTimeoutMs, cancellationToken).ConfigureAwait(false) ? new Lease(_slots) : null;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    private sealed class Lease(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
