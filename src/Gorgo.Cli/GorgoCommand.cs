using System.CommandLine;
using Gorgo.Cli.Bench;
using Gorgo.Cli.Mesh;
using Gorgo.Cli.Proxy;
using Gorgo.Cli.Replica;
using Gorgo.Cli.Route;
using Gorgo.Cli.Sim;

namespace Gorgo.Cli;

/// <summary>The <c>gorgo</c> root command and its subcommands.</summary>
public static class GorgoCommand
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;

    /// <summary>Exit code when the request could not be served (e.g. no replica can take it).</summary>
    public const int Failed = 1;

    /// <summary>Exit code for bad input: unreadable or invalid files and arguments.</summary>
    public const int BadInput = 2;

    /// <summary>Builds the command tree.</summary>
    public static RootCommand Create()
    {
        var root = new RootCommand("Gorgo.Mesh: cross-region LLM request routing by estimated time to first token (GORGO).");
        root.Subcommands.Add(RouteCommand.Create());
        root.Subcommands.Add(ReplicaCommand.Create());
        root.Subcommands.Add(MeshCommands.Node());
        root.Subcommands.Add(MeshCommands.Up());
        root.Subcommands.Add(ProxyCommand.Create());
        root.Subcommands.Add(Gateway.GatewayCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(SimCommand.Create());
        return root;
    }

    /// <summary>Completes when <paramref name="cancellationToken"/> is cancelled (Ctrl+C): how a serving command waits.</summary>
    internal static async Task WaitForCancellationAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
