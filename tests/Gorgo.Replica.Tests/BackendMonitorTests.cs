using System.Net;
using System.Net.Sockets;
using Gorgo.Replica.Backends;

namespace Gorgo.Replica.Tests;

public class BackendMonitorTests(ReplicaServerFixture server) : IClassFixture<ReplicaServerFixture>
{
    [Fact]
    public async Task Keeps_load_and_health_current_on_its_intervals()
    {
        await using var backend = new HttpReplicaBackend(new HttpBackendOptions { BaseAddress = server.BaseAddress, Model = ReplicaServerFixture.Model });
        await using var monitor = new BackendMonitor(backend, new BackendMonitorOptions { ScrapeInterval = TimeSpan.FromMilliseconds(50), HealthInterval = TimeSpan.FromMilliseconds(20) });
        int updates = 0;
        monitor.Updated += _ => Interlocked.Increment(ref updates);
        monitor.Start();

        var deadline = DateTime.UtcNow.AddSeconds(5);
        while ((monitor.Load is null || monitor.ProbeRttMs is null || Volatile.Read(ref updates) < 10) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.NotNull(monitor.Load);
        Assert.True(monitor.Healthy);
        Assert.InRange(monitor.ProbeRttMs!.Value, 0, 1_000);
        Assert.True(updates >= 10, "several scrapes and probes ran");
    }

    [Fact]
    public async Task Marks_a_backend_unhealthy_after_consecutive_failed_probes()
    {
        int port = Gorgo.Replica.Hosting.LoopbackPorts.Free();
        await using var backend = new HttpReplicaBackend(new HttpBackendOptions { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Model = "m" });
        await using var monitor = new BackendMonitor(backend, new BackendMonitorOptions { FailuresBeforeUnhealthy = 2 });

        await monitor.ProbeOnceAsync(CancellationToken.None);
        Assert.True(monitor.Healthy);
        await monitor.ProbeOnceAsync(CancellationToken.None);
        Assert.False(monitor.Healthy);
        await monitor.ScrapeOnceAsync(CancellationToken.None);
        Assert.Null(monitor.Load);
    }

    [Fact]
    public void Smoothing_and_intervals_are_validated()
    {
        var backend = new InProcessBackendStub();
        Assert.Throws<Routing.Options.RoutingOptionsException>(() => new BackendMonitor(backend, new BackendMonitorOptions { RttSmoothing = 0 }));
        Assert.Throws<Routing.Options.RoutingOptionsException>(() => new BackendMonitor(backend, new BackendMonitorOptions { HealthInterval = TimeSpan.Zero }));
    }

    private sealed class InProcessBackendStub : IReplicaBackend
    {
        public string Model => "m";

        public IAsyncEnumerable<BackendChunk> GenerateAsync(BackendRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<BackendLoad> GetLoadAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
