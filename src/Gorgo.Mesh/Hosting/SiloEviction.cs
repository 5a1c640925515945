using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Gorgo.Mesh.Hosting;

/// <summary>
/// Orleans' fatal-error handler for a mesh node: where Orleans would end the process (typically because the cluster
/// declared this silo dead while it was cut off for longer than failure detection allows, and it learned so once the
/// network returned), the node's host stops instead, and <see cref="Evicted"/> tells the command that runs it to start
/// it again as a new silo that rejoins the cluster. Requests running on the node's own replicas finish as the host
/// drains.
/// </summary>
public sealed partial class SiloEviction(ILogger<SiloEviction> logger, IHostApplicationLifetime lifetime) : IFatalErrorHandler
{
    private readonly TaskCompletionSource<string> _evicted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes, with Orleans' reason, when the silo has stopped for good and the node must start again to serve the mesh.</summary>
    public Task<string> Evicted => _evicted.Task;

    /// <inheritdoc />
    public bool IsUnexpected(Exception exception) => exception is not ThreadAbortException;

    /// <inheritdoc />
    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        string reason = Summarize(context ?? exception?.Message ?? "unknown");
        if (_evicted.TrySetResult(reason))
        {
            LogEvicted(logger, exception, reason);
            lifetime.StopApplication();
        }
    }

    /// <summary>Orleans' context without the membership table it appends.</summary>
    internal static string Summarize(string context)
    {
        int table = context.IndexOf(" Membership:", StringComparison.Ordinal);
        return (table > 0 ? context[..table] : context).Trim();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "This node's silo left the cluster for good ({Reason}); the node stops and starts again to rejoin")]
    private static partial void LogEvicted(ILogger logger, Exception? exception, string reason);
}
