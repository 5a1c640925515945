using Gorgo.Mesh.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gorgo.Mesh.Tests;

/// <summary>What a node does where Orleans would end its process: stop its host once and say why.</summary>
public class SiloEvictionTests
{
    private sealed class Lifetime : IHostApplicationLifetime
    {
        private readonly CancellationTokenSource _stopping = new();

        public int StopRequests { get; private set; }

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => _stopping.Token;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication()
        {
            StopRequests++;
            _stopping.Cancel();
        }
    }

    [Fact]
    public async Task A_fatal_error_stops_the_host_once_and_reports_orleans_reason_without_the_membership_table()
    {
        var lifetime = new Lifetime();
        var eviction = new SiloEviction(NullLogger<SiloEviction>.Instance, lifetime);
        Assert.False(eviction.Evicted.IsCompleted);

        eviction.OnFatalException(this, "I have been told I am dead, so this silo will stop! Reason: The membership view classifies this silo as Dead (in Refresh). Membership: [Version: 7, 3 silos, ...]");
        eviction.OnFatalException(this, "a second fatal error while stopping");

        Assert.Equal("I have been told I am dead, so this silo will stop! Reason: The membership view classifies this silo as Dead (in Refresh).", await eviction.Evicted);
        Assert.Equal(1, lifetime.StopRequests);
        Assert.True(lifetime.ApplicationStopping.IsCancellationRequested);
    }
}
