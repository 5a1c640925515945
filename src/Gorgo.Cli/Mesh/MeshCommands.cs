using System.CommandLine;
using Gorgo.Mesh.Hosting;
using Gorgo.Mesh.Core;
using Gorgo.Mesh.Options;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Gorgo.Cli.Mesh;

/// <summary><c>gorgo node</c> (one region's node) and <c>gorgo up</c> (a whole local mesh in one process).</summary>
public static class MeshCommands
{
    private static readonly Option<FileInfo?> Config = new("--config", "-c") { Description = "Mesh configuration (JSON). Default: the embedded three-region local deployment. GORGO_ environment variables override it (e.g. GORGO_Gossip__IntervalMs=100)." };
    private static readonly Option<string?> Consistency = new("--consistency") { Description = $"Consistency setting: {string.Join(", ", ConsistencyModes.Live.Select(m => m.Name()))}." };
    private static readonly Option<string?> Policy = new("--policy") { Description = $"Routing policy: {string.Join(", ", PolicyCatalog.Names)}." };
    private static readonly Option<bool?> Wan = new("--wan-emulation") { Description = "Delay cross-region calls by the configured RTTs (true/false)." };
    private static readonly Option<bool> Verbose = new("--verbose") { Description = "Debug logging." };
    private static readonly Option<string> LogFormat = MeshLogging.FormatOption();

    /// <summary>Builds <c>gorgo node</c>.</summary>
    public static Command Node()
    {
        var region = new Option<string>("--region", "-r") { Description = "This node's region (a key of Regions in the configuration).", Required = true };
        var command = new Command("node", "Run one region's mesh node: an Orleans silo with the region's replicas, gossip, RTT probes and the OpenAI ingress.")
        {
            region, Config, Consistency, Policy, Wan, Verbose, LogFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string name = parse.GetValue(region)!;
            if (!TryLoad(parse, name, out MeshOptions? options))
            {
                return GorgoCommand.BadInput;
            }

            // A node whose silo the cluster declared dead (cut off too long) stops and starts again as a new silo, as a
            // supervisor would restart it; one evicted again within a minute of restarting gives up with a failure.
            for (bool restarted = false; ; restarted = true)
            {
                if (restarted && cancellationToken.IsCancellationRequested)
                {
                    return GorgoCommand.Ok; // stopped (Ctrl+C, SIGTERM) while starting again
                }

                WebApplication app;
                try
                {
                    app = MeshNode.Build(options!, name, logging => MeshLogging.Configure(logging, parse.GetValue(Verbose), parse.GetValue(LogFormat)!));
                }
                catch (ArgumentException ex)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo node: {ex.Message}").ConfigureAwait(false);
                    return GorgoCommand.BadInput;
                }

                Task<string> evicted = app.Services.GetRequiredService<SiloEviction>().Evicted;
                var served = System.Diagnostics.Stopwatch.StartNew();
                int code = await ServingHost.RunAsync(
                    parse,
                    app,
                    $"Change Regions:{name}:IngressUrl, SiloPort or GatewayPort in the configuration (or GORGO_Regions__{name}__IngressUrl and the like).",
                    output => output.WriteLineAsync($"gorgo node: region '{name}' serving on {options!.Regions[name].IngressUrl} ({options.Consistency.Name()}, policy {options.Policy.Name}); Ctrl+C to stop"),
                    parse.GetValue(Verbose),
                    cancellationToken,
                    restartWhen: evicted).ConfigureAwait(false);
                if (!evicted.IsCompleted || cancellationToken.IsCancellationRequested)
                {
                    return code;
                }

                if (restarted && served.Elapsed < StableAfter)
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo node: the silo left the cluster again {served.Elapsed.TotalSeconds:F0} s after starting ({evicted.Result}); giving up").ConfigureAwait(false);
                    return GorgoCommand.Failed;
                }

                await parse.InvocationConfiguration.Output.WriteLineAsync($"gorgo node: the silo left the cluster ({evicted.Result}); starting again to rejoin").ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>A node evicted again sooner than this after restarting stops for good rather than restarting in a loop.</summary>
    private static readonly TimeSpan StableAfter = TimeSpan.FromMinutes(1);

    /// <summary>Builds <c>gorgo up</c>.</summary>
    public static Command Up()
    {
        var command = new Command("up", "Run a whole mesh locally in this process: by default three regions (us-east, eu-central, ap-northeast) with two emulated replicas each and WAN emulation on.")
        {
            Config, Consistency, Policy, Wan, Verbose, LogFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!TryLoad(parse, null, out MeshOptions? options))
            {
                return GorgoCommand.BadInput;
            }

            TextWriter output = parse.InvocationConfiguration.Output;
            await output.WriteLineAsync($"gorgo up: starting {options!.Regions.Count} regions ({options.Consistency.Name()}, policy {options.Policy.Name}, WAN emulation {(options.WanEmulation ? "on" : "off")})...").ConfigureAwait(false);
            MeshDeployment mesh;
            try
            {
                mesh = await MeshDeployment.StartAsync(options, logging => MeshLogging.Configure(logging, parse.GetValue(Verbose), parse.GetValue(LogFormat)!), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo up: {ServingHost.Describe(ex, "Change the regions' IngressUrl, SiloPort and GatewayPort in the configuration (--config).")}").ConfigureAwait(false);
                if (parse.GetValue(Verbose))
                {
                    await parse.InvocationConfiguration.Error.WriteLineAsync(ex.ToString()).ConfigureAwait(false);
                }

                return GorgoCommand.Failed;
            }

            await using MeshDeployment running = mesh;
            bool converged = await mesh.WaitUntilConvergedAsync(TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
            foreach ((string region, string url) in mesh.Nodes)
            {
                int replicas = options.Replicas.Count(r => r.Region == region);
                await output.WriteLineAsync($"  {region,-14} {url}   ({replicas} replica{(replicas == 1 ? "" : "s")})").ConfigureAwait(false);
            }

            string first = mesh.Nodes[0].IngressUrl;
            string model = options.Replicas.FirstOrDefault()?.Model ?? "llama-3-8b";
            await output.WriteLineAsync(converged ? "Every region sees every other. Try:" : "Warning: gossip has not converged yet. Try:").ConfigureAwait(false);
            await output.WriteLineAsync($"  curl -sN {first}/v1/chat/completions -H 'Content-Type: application/json' -D - -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}], \"max_tokens\": 8, \"stream\": true}}'").ConfigureAwait(false);
            await output.WriteLineAsync($"  curl -s {first}/mesh/state").ConfigureAwait(false);
            await output.WriteLineAsync($"Status page: {first}/ (every node has one); Prometheus metrics: {first}/metrics").ConfigureAwait(false);
            await output.WriteLineAsync("Ctrl+C to stop.").ConfigureAwait(false);
            await GorgoCommand.WaitForCancellationAsync(cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync("gorgo up: stopping...").ConfigureAwait(false);
            return GorgoCommand.Ok;
        });
        return command;
    }

    private static bool TryLoad(ParseResult parse, string? region, out MeshOptions? options)
    {
        var overrides = new Dictionary<string, string?>
        {
            ["Consistency"] = parse.GetValue(Consistency),
            ["Policy:Name"] = parse.GetValue(Policy),
            ["WanEmulation"] = parse.GetValue(Wan)?.ToString(),
        };
        try
        {
            options = MeshConfiguration.Load(parse.GetValue(Config)?.FullName, overrides).EnsureValid(region);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or RoutingOptionsException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"gorgo {parse.CommandResult.Command.Name}: {ex.Message}");
            options = null;
            return false;
        }
    }
}
