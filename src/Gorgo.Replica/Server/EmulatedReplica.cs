using System.IO.Pipelines;
using System.Text.Json;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.KvEvents;
using Gorgo.Engine.Model;
using Gorgo.Replica.OpenAi;
using Gorgo.Engine.Profiles;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Tokens;
using Microsoft.AspNetCore.Http;

namespace Gorgo.Replica.Server;

/// <summary>An emulated replica: an <see cref="EngineHost"/> serving one model over the OpenAI API, as a vLLM server would.</summary>
public sealed class EmulatedReplica : IAsyncDisposable
{
    /// <summary>
    /// Creates the replica and starts its engine; with <paramref name="kvEvents"/> its cache events are published there as
    /// vLLM publishes them; <paramref name="tokenizer"/> is the model's (cl100k_base when null).
    /// </summary>
    public EmulatedReplica(string model, EngineProfile profile, int defaultMaxTokens = 256, double stepJitter = 0, int seed = 1, KvEventPublisher? kvEvents = null, IPromptTokenizer? tokenizer = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(defaultMaxTokens, 1);
        Model = model;
        DefaultMaxTokens = defaultMaxTokens;
        Engine = new EngineHost(profile, stepJitter: stepJitter, seed: seed);
        Encoder = new PromptEncoder(tokenizer ?? TiktokenPromptTokenizer.Default, new BlockHasher(profile.BlockSize));
        KvEvents = kvEvents is null ? null : new EngineKvPublisher(Engine, kvEvents);
    }

    /// <summary>The publisher of the engine's KV events, or null when they are not published.</summary>
    public EngineKvPublisher? KvEvents { get; }

    /// <summary>The model served.</summary>
    public string Model { get; }

    /// <summary>Output length of chat requests without <c>max_tokens</c>.</summary>
    public int DefaultMaxTokens { get; }

    /// <summary>The engine.</summary>
    public EngineHost Engine { get; }

    /// <summary>Tokenizer and block hasher of prompts.</summary>
    public PromptEncoder Encoder { get; }

    /// <summary>Handles <c>POST /v1/completions</c> or <c>/v1/chat/completions</c>: parse, validate, run, respond.</summary>
    public async Task ServeAsync(HttpContext context, OpenAiEndpoint endpoint)
    {
        CancellationToken aborted = context.RequestAborted;
        byte[] body = await OpenAiBody.ReadAsync(context.Request, aborted).ConfigureAwait(false);
        OpenAiRequest request = OpenAiRequestParser.Parse(body, endpoint);
        if (!string.Equals(request.Model, Model, StringComparison.Ordinal))
        {
            throw OpenAiError.ModelNotFound(request.Model);
        }

        int[] tokens = PreparedPrompt.Tokens(request, Encoder);
        PromptBlocks blocks = Encoder.FromTokens(tokens);
        PreparedPrompt prompt = PreparedPrompt.From(request, blocks, Engine.Profile.MaxContextTokens, DefaultMaxTokens);
        KvEvents?.Remember(tokens, blocks.Hashes.Span);
        var engineRequest = new EngineRequest(Engine.NextRequestId(), prompt.Blocks, prompt.MaxTokens);
        EngineRejection rejection = Engine.TrySubmit(engineRequest, out RequestStream? stream, aborted);
        switch (rejection)
        {
            case EngineRejection.None:
                break;
            case EngineRejection.ContextTooLong or EngineRejection.ExceedsKvCapacity:
                throw OpenAiError.ContextTooLong(prompt.Blocks.TokenCount, prompt.MaxTokens, Engine.Profile.MaxContextTokens);
            default:
                throw OpenAiError.BadRequest($"The engine refused the request ({rejection}).");
        }

        var responses = new OpenAiResponses(endpoint, Model);
        if (request.Stream)
        {
            await StreamAsync(context, responses, request, stream!, aborted).ConfigureAwait(false);
        }
        else
        {
            await RespondWholeAsync(context, responses, stream!, aborted).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await Engine.DisposeAsync().ConfigureAwait(false);
        KvEvents?.Dispose();
    }

    private static async Task StreamAsync(HttpContext context, OpenAiResponses responses, OpenAiRequest request, RequestStream stream, CancellationToken aborted)
    {
        HttpResponse response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        PipeWriter output = response.BodyWriter;
        await responses.WriteStartAsync(output, aborted).ConfigureAwait(false);
        await foreach (TokenOutput token in stream.Tokens.ReadAllAsync(aborted).ConfigureAwait(false))
        {
            await responses.WriteTokenAsync(output, FillerText.Token(token.Index), aborted).ConfigureAwait(false);
        }

        RequestTiming timing = await stream.Completion.ConfigureAwait(false);
        await responses.WriteEndAsync(output, "length", request.IncludeUsage ? Usage(timing) : null, aborted).ConfigureAwait(false);
    }

    private static async Task RespondWholeAsync(HttpContext context, OpenAiResponses responses, RequestStream stream, CancellationToken aborted)
    {
        var text = new System.Text.StringBuilder();
        await foreach (TokenOutput token in stream.Tokens.ReadAllAsync(aborted).ConfigureAwait(false))
        {
            text.Append(FillerText.Token(token.Index));
        }

        RequestTiming timing = await stream.Completion.ConfigureAwait(false);
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(responses.Complete(text.ToString(), "length", Usage(timing)), aborted).ConfigureAwait(false);
    }

    private static OpenAiUsage Usage(RequestTiming timing) => new(timing.PromptTokens, timing.GeneratedTokens, timing.CachedTokens);

    /// <summary>The <c>GET /v1/models</c> body.</summary>
    public byte[] ModelsJson()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, OpenAiJson.WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("id", Model);
            w.WriteString("object", "model");
            w.WriteNumber("created", 0);
            w.WriteString("owned_by", "gorgo");
            w.WriteNumber("max_model_len", Engine.Profile.MaxContextTokens);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
