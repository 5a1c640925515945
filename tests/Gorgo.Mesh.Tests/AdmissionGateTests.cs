using Gorgo.Serving;

namespace Gorgo.Mesh.Tests;

/// <summary>The front door's admission gate.</summary>
public class AdmissionGateTests
{
    [Fact]
    public async Task The_admission_gate_queues_a_bounded_number_then_refuses()
    {
        var gate = new AdmissionGate(new AdmissionOptions { MaxConcurrentRequests = 1, MaxQueuedRequests = 1, QueueTimeoutMs = 5_000 });
        IDisposable? first = await gate.EnterAsync(CancellationToken.None);
        Assert.NotNull(first);
        ValueTask<IDisposable?> queued = gate.EnterAsync(CancellationToken.None);
        Assert.False(queued.IsCompleted);
        Assert.Null(await gate.EnterAsync(CancellationToken.None)); // queue full
        first!.Dispose();
        IDisposable? second = await queued;
        Assert.NotNull(second);
        second!.Dispose();
        Assert.Equal(0, gate.Serving);
    }
}
