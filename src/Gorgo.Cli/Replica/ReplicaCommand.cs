using System.CommandLine;
using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Gorgo.Routing.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Cli.Replica;

/// <summary><c>gorgo replica</c>: an emulated GPU replica serving the OpenAI API like a vLLM server.</summary>
public static class ReplicaCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var defaults = new ReplicaServerOptions();
        var port = new Option<int>("--port") { Description = "Port to listen on.", DefaultValueFactory = _ => defaults.Port };
        var host = new Option<string>("--host") { Description = "Address to listen on.", DefaultValueFactory = _ => defaults.Host };
        var profile = new Option<string>("--profile") { Description = $"Engine profile: {string.Join(", ", EngineProfile.ShippedNames)}, or a JSON file.", DefaultValueFactory = _ => defaults.Profile };
        var model = new Option<string>("--model") { Description = "Model name clients ask for.", DefaultValueFactory = _ => defaults.Model };
        var maxTokens = new Option<int>("--default-max-tokens") { Description = "Output length of chat requests without max_tokens.", DefaultValueFactory = _ => defaults.DefaultMaxTokens };
        var jitter = new Option<double>("--step-jitter") { Description = "Relative standard deviation of engine step times (0 = exact profile times).", DefaultValueFactory = _ => defaults.StepJitter };
        var seed = new Option<int>("--seed") { Description = "Seed of the step-time jitter.", DefaultValueFactory = _ => defaults.Seed };
        var kvEvents = new Option<string?>("--kv-events-endpoint") { Description = "Publish the engine's KV cache events on this ZeroMQ PUB address (e.g. tcp://*:5557), in vLLM's wire format." };
        var kvReplay = new Option<string?>("--kv-events-replay-endpoint") { Description = "Serve replays of missed KV event batches on this ZeroMQ ROUTER address (e.g. tcp://*:5558)." };
        var kvTopic = new Option<string>("--kv-events-topic") { Description = "Topic frame of the KV event messages.", DefaultValueFactory = _ => defaults.KvEventsTopic };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "The model's Hugging Face tokenizer.json (byte-level BPE, e.g. Llama 3 or Qwen); default: cl100k_base." };

        var command = new Command("replica", "Run an emulated GPU replica (continuous batching, prefix cache, calibrated timing) serving the OpenAI API, /health and /metrics like vLLM.")
        {
            port, host, profile, model, maxTokens, jitter, seed, kvEvents, kvReplay, kvTopic, tokenizer,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var options = new ReplicaServerOptions
            {
                Port = parse.GetValue(port),
                Host = parse.GetValue(host)!,
                Profile = parse.GetValue(profile)!,
                Model = parse.GetValue(model)!,
                DefaultMaxTokens = parse.GetValue(maxTokens),
                StepJitter = parse.GetValue(jitter),
                Seed = parse.GetValue(seed),
                KvEventsEndpoint = parse.GetValue(kvEvents),
                KvEventsReplayEndpoint = parse.GetValue(kvReplay),
                KvEventsTopic = parse.GetValue(kvTopic) ?? string.Empty,
                Tokenizer = parse.GetValue(tokenizer),
            };

            WebApplication app;
            try
            {
                app = ReplicaServer.Build(options, logging => logging.ClearProviders().AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
                    .AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical));
            }
            catch (Exception ex) when (ex is RoutingOptionsException or ArgumentException)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo replica: {ex.Message}").ConfigureAwait(false);
                return GorgoCommand.BadInput;
            }
            catch (NetMQ.NetMQException ex)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"gorgo replica: cannot bind the KV events sockets ({options.KvEventsEndpoint}, {options.KvEventsReplayEndpoint ?? "no replay"}): {ex.Message}. Choose others with --kv-events-endpoint and --kv-events-replay-endpoint.").ConfigureAwait(false);
                return GorgoCommand.BadInput;
            }

            return await ServingHost.RunAsync(parse, app, "Choose another with --port.", async output =>
            {
                string url = app.Urls.First();
                await output.WriteLineAsync($"gorgo replica: model '{options.Model}', profile '{options.Profile}', serving on {url} (Ctrl+C to stop)").ConfigureAwait(false);
                if (app.Services.GetRequiredService<EmulatedReplica>().KvEvents is { } kv)
                {
                    await output.WriteLineAsync($"  KV events on {kv.Publisher.Endpoint} (topic '{options.KvEventsTopic}'), replay on {kv.Publisher.ReplayEndpoint ?? "(none)"}").ConfigureAwait(false);
                }

                await output.WriteLineAsync($"  curl {url}/v1/completions -H 'Content-Type: application/json' -d '{{\"model\": \"{options.Model}\", \"prompt\": \"Hello\", \"max_tokens\": 8}}'").ConfigureAwait(false);
            }, verbose: false, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }
}
