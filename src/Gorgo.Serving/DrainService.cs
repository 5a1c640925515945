using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gorgo.Serving;

/// <summary>What a deployment adds to its front door's drain: telling its peers, and the work in flight that did not come through the front door.</summary>
public interface IDrainParticipant
{
    /// <summary>Stops offering this node's replicas and tells peers at once, so they stop routing here.</summary>
    Task AnnounceDrainAsync(CancellationToken cancellationToken);

    /// <summary>Requests running on this node's replicas, for its own clients or other nodes'.</summary>
    int ReplicaInFlight { get; }
}

/// <summary>
/// Drains a front door when its host stops (SIGTERM, Ctrl+C), before any service stops: new requests get 503 with
/// Retry-After, peers are told, and requests in flight finish, up to <see cref="AdmissionOptions.DrainTimeoutMs"/>;
/// then the host stops its services (the silo leaves the cluster) and the process exits 0.
/// </summary>
public sealed class DrainService(AdmissionGate admission, IEnumerable<IDrainParticipant> participants, ILogger<DrainService> logger) : IHostedLifecycleService
{
    /// <summary>The longest a drain waits for peers to take the announcement.</summary>
    public static readonly TimeSpan AnnounceTimeout = TimeSpan.FromSeconds(1);

    private readonly IDrainParticipant[] _participants = [.. participants];

    /// <summary>Work in flight here now: requests the front door admitted, plus requests on this node's replicas (a local request counts in both; the drain waits for both to reach zero).</summary>
    public int InFlight => admission.Serving + admission.Waiting + _participants.Sum(p => p.ReplicaInFlight);

    /// <inheritdoc />
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        admission.BeginDrain();
        TimeSpan timeout = TimeSpan.FromMilliseconds(admission.Options.DrainTimeoutMs);
        int inFlight = InFlight;
        if (inFlight > 0)
        {
            logger.LogInformation(
                "Draining: refusing new requests; {Clients} client requests here and {Replicas} running on this node's replicas, waiting up to {Timeout} s",
                admission.Serving + admission.Waiting,
                _participants.Sum(p => p.ReplicaInFlight),
                timeout.TotalSeconds);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        long start = Stopwatch.GetTimestamp();
        await AnnounceAsync(deadline.Token).ConfigureAwait(false);
        try
        {
            while (InFlight > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), deadline.Token).ConfigureAwait(false);
            }

            if (inFlight > 0)
            {
                logger.LogInformation("Drained in {Elapsed:F1} s", Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Drain timed out after {Elapsed:F1} s with {InFlight} requests in flight; stopping anyway", Stopwatch.GetElapsedTime(start).TotalSeconds, InFlight);
        }
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task AnnounceAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(AnnounceTimeout);
        foreach (IDrainParticipant participant in _participants)
        {
            try
            {
                await participant.AnnounceDrainAsync(bounded.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.LogWarning(ex, "Announcing the drain failed; peers will learn it from the next gossip round");
            }
        }
    }
}

/// <summary>Registers a front door's drain.</summary>
public static class DrainRegistration
{
    /// <summary>Adds <see cref="DrainService"/> and makes the host's shutdown timeout outlast the drain.</summary>
    public static IServiceCollection AddFrontDoorDrain(this IServiceCollection services, AdmissionOptions admission)
    {
        ArgumentNullException.ThrowIfNull(admission);
        services.AddHostedService<DrainService>();
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(admission.DrainTimeoutMs) + TimeSpan.FromSeconds(15));
        return services;
    }
}
