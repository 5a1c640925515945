using System.CommandLine;
using Gorgo.Cli.Mesh;
using Gorgo.Proxy;
using Gorgo.Routing.Options;
using Gorgo.Routing.Policies;
using Gorgo.Serving;
using Microsoft.AspNetCore.Builder;

namespace Gorgo.Cli.Proxy;

/// <summary><c>gorgo proxy</c>: the centralized GORGO-proxy baseline.</summary>
public static class ProxyCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c") { Description = "Proxy configuration (JSON): Region, ListenUrl, Rtt, Replicas (Id, Region, Model, Url, PrefillMsPerToken, MaxContextTokens), ... (see samples/proxy).", Required = true };
        var policy = new Option<string?>("--policy") { Description = $"Routing policy: {string.Join(", ", PolicyCatalog.Names)}." };
        var listen = new Option<string?>("--listen") { Description = "Listen URL (overrides ListenUrl)." };
        var wan = new Option<bool?>("--wan-emulation") { Description = "Delay each backend call by the RTT between the proxy's region and the replica's (true/false)." };
        var verbose = new Option<bool>("--verbose") { Description = "Debug logging." };
        Option<string> logFormat = MeshLogging.FormatOption();
        var command = new Command("proxy", "Run the centralized GORGO proxy: one router in one region in front of replica endpoints in every region.")
        {
            config, policy, listen, wan, verbose, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            ProxyOptions options;
            try
            {
                options = JsonConfiguration.Load<ProxyOptions>(parse.GetValue(config)!.FullName, null, new Dictionary<string, string?>
                {
                    ["Policy:Name"] = parse.GetValue(policy),
                    ["ListenUrl"] = parse.GetValue(listen),
                    ["WanEmulation"] = parse.GetValue(wan)?.ToString(),
                }).EnsureValid();
            }
            catch (Exception ex) when (ex is ArgumentException or RoutingOptionsException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo proxy: {ex.Message}").ConfigureAwait(false);
                return GorgoCommand.BadInput;
            }

            WebApplication app = ProxyHost.Build(options, logging => MeshLogging.Configure(logging, parse.GetValue(verbose), parse.GetValue(logFormat)!));
            return await ServingHost.RunAsync(
                parse,
                app,
                "Change ListenUrl in the configuration, --listen, or GORGO_ListenUrl.",
                output => output.WriteLineAsync($"gorgo proxy: region '{options.Region}', {options.Replicas.Count} replicas, policy {options.Policy.Name}, serving on {options.ListenUrl}; Ctrl+C to stop"),
                parse.GetValue(verbose),
                cancellationToken).ConfigureAwait(false);
        });
        return command;
    }
}
