using System.CommandLine;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;

namespace Gorgo.Cli;

/// <summary>Runs a serving command's web application: start (a failure is one line, the stack trace only with <c>--verbose</c>), serve until Ctrl+C or SIGTERM (or until the application must start again), then stop gracefully (the front door drains).</summary>
internal static class ServingHost
{
    /// <summary>Longest a command may take to stop after Ctrl+C or SIGTERM: the longest drain allowed plus the host's own shutdown.</summary>
    public static readonly TimeSpan TerminationTimeout = TimeSpan.FromSeconds(600 + 60);

    /// <summary>
    /// Longest an application that must start again (a node whose silo the cluster evicted) may take to stop, so that its
    /// command can start it again soon: requests still running on its replicas get this long to finish, and Orleans'
    /// shutdown of a silo the cluster no longer lists is cut short (it otherwise waits out calls to the silos it lost).
    /// </summary>
    public static readonly TimeSpan SelfStopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Starts <paramref name="app"/>, prints <paramref name="banner"/>, serves until cancelled (or until
    /// <paramref name="restartWhen"/> completes: then it stops within <see cref="SelfStopTimeout"/>), stops; returns the exit
    /// code. <paramref name="portHint"/> tells the user how to change the ports when one is taken.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult parse, WebApplication app, string portHint, Func<TextWriter, Task> banner, bool verbose, CancellationToken cancellationToken, Task? restartWhen = null)
    {
        string command = $"gorgo {parse.CommandResult.Command.Name}";
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                TextWriter error = parse.InvocationConfiguration.Error;
                await error.WriteLineAsync($"{command}: {Describe(ex, portHint)}").ConfigureAwait(false);
                if (verbose)
                {
                    await error.WriteLineAsync(ex.ToString()).ConfigureAwait(false);
                }

                await StopQuietlyAsync(app).ConfigureAwait(false);
                return GorgoCommand.Failed;
            }

            await banner(parse.InvocationConfiguration.Output).ConfigureAwait(false);
            Task cancelled = GorgoCommand.WaitForCancellationAsync(cancellationToken);
            await (restartWhen is null ? cancelled : Task.WhenAny(cancelled, restartWhen)).ConfigureAwait(false);
            await parse.InvocationConfiguration.Output.WriteLineAsync($"{command}: stopping (requests in flight may finish first)").ConfigureAwait(false);
            bool restarting = restartWhen is { IsCompleted: true } && !cancellationToken.IsCancellationRequested;
            using var stopBy = restarting ? new CancellationTokenSource(SelfStopTimeout) : new CancellationTokenSource();
            try
            {
                await app.StopAsync(stopBy.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (stopBy.IsCancellationRequested && ex is OperationCanceledException or AggregateException)
            {
                // Cut short after SelfStopTimeout: what remains is a silo the cluster has already let go.
            }
        }

        return GorgoCommand.Ok;
    }

    /// <summary>Stops what did start (e.g. the silo, before the web server failed to bind), so the process leaves the cluster cleanly.</summary>
    private static async Task StopQuietlyAsync(WebApplication app)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Already failing to start: the one-line reason has been given.
        }
    }

    /// <summary>One line saying why a host failed to start: a port in use names the address and how to change it.</summary>
    public static string Describe(Exception failure, string portHint)
    {
        ArgumentNullException.ThrowIfNull(failure);
        Exception innermost = failure;
        foreach (Exception e in Chain(failure))
        {
            if (e is IOException && e.Message.StartsWith("Failed to bind to address", StringComparison.Ordinal))
            {
                return $"{e.Message.TrimEnd('.')}: the port is taken. {portHint}";
            }

            if (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
            {
                return $"a port it needs is taken ({e.Message}). {portHint}";
            }

            innermost = e;
        }

        return $"cannot start: {innermost.Message} (--verbose shows the details)";
    }

    private static IEnumerable<Exception> Chain(Exception failure)
    {
        var pending = new Stack<Exception>();
        pending.Push(failure);
        while (pending.TryPop(out Exception? e))
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (Exception inner in aggregate.InnerExceptions.Reverse())
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }
}
