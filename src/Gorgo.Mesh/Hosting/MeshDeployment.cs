using Gorgo.Mesh.Options;
using Gorgo.Mesh.State;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Mesh.Hosting;

/// <summary>Every region's node of a mesh, run in this process (what <c>gorgo up</c> starts); stopped in reverse order.</summary>
public sealed class MeshDeployment : IAsyncDisposable
{
    private readonly List<(string Region, WebApplication App)> _nodes = [];

    private MeshDeployment(MeshOptions options) => Options = options;

    /// <summary>The configuration.</summary>
    public MeshOptions Options { get; }

    /// <summary>Regions and their ingress URLs, ordered by URL.</summary>
    public IReadOnlyList<(string Region, string IngressUrl)> Nodes => _nodes.Select(n => (n.Region, Options.Regions[n.Region].IngressUrl)).OrderBy(n => n.IngressUrl, StringComparer.Ordinal).ToArray();

    /// <summary>Starts every region's node, the primary (localhost clustering) first, one after another.</summary>
    public static async Task<MeshDeployment> StartAsync(MeshOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        options.EnsureValid();
        var deployment = new MeshDeployment(options);
        string primary = options.Clustering.PrimaryRegion ?? options.Regions.Keys.First();
        try
        {
            foreach (string region in options.Regions.Keys.OrderBy(r => r == primary ? 0 : 1))
            {
                WebApplication app = MeshNode.Build(options, region, logging);
                deployment._nodes.Add((region, app));
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await deployment.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return deployment;
    }

    /// <summary>The state of a region's node.</summary>
    public RegionState State(string region) => Services(region).GetRequiredService<RegionState>();

    /// <summary>The services of a region's node (its grain factory, state, ...).</summary>
    public IServiceProvider Services(string region) => _nodes.Single(n => n.Region == region).App.Services;

    /// <summary>Waits until every node holds a digest from every other region it is interested in, or the timeout passes; returns whether it converged.</summary>
    public async Task<bool> WaitUntilConvergedAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_nodes.All(n => State(n.Region).Node.KnownRegions().Count == _nodes.Count(m => m.Region != n.Region && State(n.Region).Node.Interested(m.Region))))
            {
                return true;
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>Stops one region's node (for failure tests); returns false when it is not running.</summary>
    public async Task<bool> StopNodeAsync(string region)
    {
        int i = _nodes.FindIndex(n => n.Region == region);
        if (i < 0)
        {
            return false;
        }

        WebApplication app = _nodes[i].App;
        _nodes.RemoveAt(i);
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>Starts a region's node again after <see cref="StopNodeAsync"/>.</summary>
    public async Task StartNodeAsync(string region, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        if (_nodes.Any(n => n.Region == region))
        {
            throw new InvalidOperationException($"The node of '{region}' is already running.");
        }

        WebApplication app = MeshNode.Build(Options, region, logging);
        _nodes.Add((region, app));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Quiet every node's gossip and probes first, so no node calls a silo that is already shutting down.
        foreach ((_, WebApplication app) in _nodes)
        {
            await app.Services.GetRequiredService<Gossip.GossipService>().StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        for (int i = _nodes.Count - 1; i >= 0; i--)
        {
            WebApplication app = _nodes[i].App;
            try
            {
                await app.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }
        }

        _nodes.Clear();
    }
}
