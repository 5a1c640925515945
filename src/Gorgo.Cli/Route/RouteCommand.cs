using System.CommandLine;
using System.Text.Json;
using Gorgo.Routing;
using Gorgo.Routing.Decisions;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Policies;
using Gorgo.Routing.Tokens;

namespace Gorgo.Cli.Route;

/// <summary><c>gorgo route</c>: prints the decision record for one prompt on a fleet described in a JSON file.</summary>
public static class RouteCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var state = new Option<FileInfo>("--state", "-s") { Description = "JSON file describing replicas, their load and cached prompts, and RTTs (see samples/route/state.json).", Required = true };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text (appended after any --prompt-file)." };
        var promptFiles = new Option<FileInfo[]>("--prompt-file") { Description = "File(s) whose text starts the prompt, in order.", AllowMultipleArgumentsPerToken = false };
        var chat = new Option<FileInfo?>("--chat") { Description = "JSON file with chat messages [{\"role\", \"content\"}], flattened with the fixed chat template." };
        var policy = new Option<string?>("--policy") { Description = $"Routing policy (default: the state file's, else gorgo). One of: {string.Join(", ", PolicyCatalog.Names)}." };
        var region = new Option<string?>("--region") { Description = "Deciding region (overrides the state file)." };
        var clientRegion = new Option<string?>("--client-region") { Description = "The client's region, to add the client-to-router leg." };
        var model = new Option<string?>("--model") { Description = "Requested model (default: any)." };
        var json = new Option<bool>("--json") { Description = "Print the decision record as JSON." };

        var command = new Command("route", "Show where a prompt would go and why: every candidate's estimated TTFT with its network, queue and prefill terms.")
        {
            state, prompt, promptFiles, chat, policy, region, clientRegion, model, json,
        };

        command.SetAction(parse =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            try
            {
                FleetStateFile file = FleetStateFile.Load(parse.GetValue(state)!.FullName);
                var encoder = new PromptEncoder(TiktokenPromptTokenizer.Default, new BlockHasher(file.BlockSize));
                PromptBlocks blocks = EncodePrompt(encoder, parse.GetValue(prompt), parse.GetValue(promptFiles) ?? [], parse.GetValue(chat));
                Router router = file.BuildRouter(encoder, parse.GetValue(policy), parse.GetValue(region), new FrozenClock(DateTimeOffset.UtcNow));
                RoutingDecision decision = router.Route(new RoutingRequest(blocks, parse.GetValue(model), parse.GetValue(clientRegion)));
                if (parse.GetValue(json))
                {
                    output.WriteLine(DecisionReport.ToJson(decision));
                }
                else
                {
                    DecisionReport.Write(CliConsole.For(output), decision);
                }

                return GorgoCommand.Ok;
            }
            catch (RoutingException ex)
            {
                error.WriteLine($"gorgo route: cannot route ({ex.Failure}): {ex.Message}");
                return GorgoCommand.Failed;
            }
            catch (Exception ex) when (ex is FleetStateException or ArgumentException or IOException or UnauthorizedAccessException or JsonException)
            {
                error.WriteLine($"gorgo route: {ex.Message}");
                return GorgoCommand.BadInput;
            }
        });
        return command;
    }

    /// <summary>Turns the prompt options into blocks: chat, or files followed by text.</summary>
    internal static PromptBlocks EncodePrompt(PromptEncoder encoder, string? text, IReadOnlyList<FileInfo> files, FileInfo? chat)
    {
        if (chat is not null)
        {
            if (text is not null || files.Count > 0)
            {
                throw new ArgumentException("Give either --chat or --prompt/--prompt-file, not both.");
            }

            List<ChatMessage> messages = JsonSerializer.Deserialize<List<ChatMessage>>(File.ReadAllText(chat.FullName), FleetStateFile.JsonOptions)
                ?? throw new ArgumentException($"Chat file '{chat.FullName}' holds no messages.");
            return encoder.Encode(messages);
        }

        string combined = string.Concat(files.Select(f => File.ReadAllText(f.FullName))) + (text ?? string.Empty);
        if (combined.Length == 0)
        {
            throw new ArgumentException("No prompt: give --prompt, --prompt-file or --chat (the prompt must not be empty).");
        }

        return encoder.Encode(combined);
    }
}
