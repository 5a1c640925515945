using Gorgo.Mesh.Options;

namespace Gorgo.Mesh.Ingress;

/// <summary>Bounds the requests a node serves at once; a bounded queue waits for a slot, beyond it requests are refused (429).</summary>
public sealed class AdmissionGate(AdmissionOptions options)
{
    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
    private int _waiting;

    /// <summary>Requests waiting for a slot now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Requests being served now.</summary>
    public int Serving => options.MaxConcurrentRequests - _slots.CurrentCount;

    /// <summary>Takes a slot (waiting in the bounded queue if needed); null when the node is saturated.</summary>
    public async ValueTask<IDisposable?> EnterAsync(CancellationToken cancellationToken)
    {
        if (_slots.Wait(0, CancellationToken.None))
        {
            return new Lease(_slots);
        }

        if (Interlocked.Increment(ref _waiting) > options.MaxQueuedRequests)
        {
            Interlocked.Decrement(ref _waiting);
            return null;
        }

        try
        {
            return await _slots.WaitAsync(options.QueueTimeoutMs, cancellationToken).ConfigureAwait(false) ? new Lease(_slots) : null;
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
