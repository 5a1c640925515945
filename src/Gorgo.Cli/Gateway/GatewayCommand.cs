using System.CommandLine;
using Gorgo.Cli.Mesh;
using Gorgo.Routing.Options;
using Gorgo.Serving.Gateway;
using Microsoft.AspNetCore.Builder;

namespace Gorgo.Cli.Gateway;

/// <summary><c>gorgo gateway</c>: a stateless front tier for one region that forwards to the mesh's nodes and outlives them.</summary>
public static class GatewayCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var defaults = new GatewayOptions();
        var region = new Option<string>("--region") { Description = "The region this gateway serves (sent as x-gorgo-client-region when a client names none).", Required = true };
        var upstreams = new Option<string[]>("--upstream") { Description = "A node's front-door URL; repeat it, own region's node first, then the nearest others.", Required = true, AllowMultipleArgumentsPerToken = true };
        var listen = new Option<string>("--listen") { Description = "Listen URL.", DefaultValueFactory = _ => defaults.ListenUrl };
        var timeout = new Option<double>("--request-timeout") { Description = "Longest a request may take, seconds.", DefaultValueFactory = _ => defaults.RequestTimeoutSeconds };
        var connect = new Option<int>("--connect-timeout-ms") { Description = "Longest a connection to a node may take to open before the next node is tried, ms.", DefaultValueFactory = _ => defaults.ConnectTimeoutMs };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate to serve HTTPS with (with an https --listen URL)." };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert, when it is not in the certificate's file." };
        var verbose = new Option<bool>("--verbose") { Description = "Debug logging." };
        Option<string> logFormat = MeshLogging.FormatOption();
        var command = new Command("gateway", "Run a region's gateway: forwards OpenAI requests to the first mesh node that answers, and ends a stream whose node dies with an error event instead of a cut connection.")
        {
            region, upstreams, listen, tlsCert, tlsKey, timeout, connect, verbose, logFormat,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            GatewayOptions options;
            WebApplication app;
            try
            {
                options = new GatewayOptions
                {
                    Region = parse.GetValue(region)!,
                    ListenUrl = parse.GetValue(listen)!,
                    Upstreams = parse.GetValue(upstreams)!.Select(ParseUpstream).ToArray(),
                    RequestTimeoutSeconds = parse.GetValue(timeout),
                    ConnectTimeoutMs = parse.GetValue(connect),
                    TlsCertificatePath = parse.GetValue(tlsCert),
                    TlsKeyPath = parse.GetValue(tlsKey),
                }.EnsureValid();
                app = GatewayHost.Build(options, logging => MeshLogging.Configure(logging, parse.GetValue(verbose), parse.GetValue(logFormat)!));
            }
            catch (Exception ex) when (ex is ArgumentException or RoutingOptionsException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo gateway: {ex.Message}").ConfigureAwait(false);
                return GorgoCommand.BadInput;
            }

            return await ServingHost.RunAsync(
                parse,
                app,
                "Change it with --listen.",
                output => output.WriteLineAsync($"gorgo gateway: region '{options.Region}', {options.Upstreams.Count} nodes ({string.Join(", ", options.Upstreams)}), serving on {options.ListenUrl}; Ctrl+C to stop"),
                parse.GetValue(verbose),
                cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static Uri ParseUpstream(string url) =>
        Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out Uri? uri) ? uri : throw new ArgumentException($"--upstream '{url}' is not a URL.");
}
