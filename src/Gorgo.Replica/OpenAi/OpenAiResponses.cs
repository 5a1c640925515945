using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;

namespace Gorgo.Replica.OpenAi;

/// <summary>Writes OpenAI responses: streamed chunks as server-sent events, or one whole JSON response.</summary>
/// <remarks>
/// Streams follow OpenAI's format: each chunk is one <c>data: {json}</c> event; chat streams open with a role delta;
/// the last content chunk carries <c>finish_reason</c>; with <c>stream_options.include_usage</c> a final chunk with empty
/// <c>choices</c> carries <c>usage</c>; the stream ends with <c>data: [DONE]</c>.
/// </remarks>
public sealed class OpenAiResponses
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly ArrayBufferWriter<byte> _buffer = new(512);
    private readonly Utf8JsonWriter _json;

    /// <summary>Creates a writer for one response.</summary>
    public OpenAiResponses(OpenAiEndpoint endpoint, string model, string? id = null, long? created = null)
    {
        Endpoint = endpoint;
        Model = model;
        Id = id ?? NewId(endpoint);
        Created = created ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        _json = new Utf8JsonWriter(_buffer, OpenAiJson.WriterOptions);
    }

    /// <summary>The endpoint answered.</summary>
    public OpenAiEndpoint Endpoint { get; }

    /// <summary>Model name reported.</summary>
    public string Model { get; }

    /// <summary>Response id (<c>cmpl-…</c> or <c>chatcmpl-…</c>).</summary>
    public string Id { get; }

    /// <summary>Creation time, Unix seconds.</summary>
    public long Created { get; }

    /// <summary>A new response id for the endpoint.</summary>
    public static string NewId(OpenAiEndpoint endpoint) =>
        (endpoint == OpenAiEndpoint.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");

    /// <summary>Writes the opening chunk of a stream (chat: the assistant role; completions: nothing).</summary>
    public ValueTask<FlushResult> WriteStartAsync(PipeWriter output, CancellationToken cancellationToken)
    {
        if (Endpoint != OpenAiEndpoint.ChatCompletions)
        {
            return ValueTask.FromResult(default(FlushResult));
        }

        return WriteChunkAsync(output, text: string.Empty, finishReason: null, role: true, cancellationToken);
    }

    /// <summary>Writes one content chunk.</summary>
    public ValueTask<FlushResult> WriteTokenAsync(PipeWriter output, string text, CancellationToken cancellationToken) =>
        WriteChunkAsync(output, text, finishReason: null, role: false, cancellationToken);

    /// <summary>Writes the finishing chunk, the usage chunk when asked for, and <c>[DONE]</c>.</summary>
    public ValueTask<FlushResult> WriteEndAsync(PipeWriter output, string finishReason, OpenAiUsage? usage, CancellationToken cancellationToken)
    {
        WriteChunk(BeginEvent(), Endpoint == OpenAiEndpoint.ChatCompletions ? null : string.Empty, finishReason, role: false);
        EndEvent(output);
        if (usage is { } u)
        {
            Utf8JsonWriter w = BeginEvent();
            WriteEnvelope(w, Endpoint == OpenAiEndpoint.ChatCompletions ? "chat.completion.chunk" : "text_completion");
            w.WriteStartArray("choices");
            w.WriteEndArray();
            WriteUsage(w, u);
            w.WriteEndObject();
            EndEvent(output);
        }

        output.Write(Done);
        return output.FlushAsync(cancellationToken);
    }

    /// <summary>Ends a stream that failed after it started: an OpenAI-style error event, then <c>[DONE]</c>, so clients see an error rather than a cut connection.</summary>
    public static ValueTask<FlushResult> WriteErrorEndAsync(PipeWriter output, OpenAiError error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        output.Write("data: "u8);
        using (var writer = new Utf8JsonWriter(output, OpenAiJson.WriterOptions))
        {
            error.WriteJson(writer);
        }

        output.Write("\n\n"u8);
        output.Write(Done);
        return output.FlushAsync(cancellationToken);
    }

    /// <summary>The whole non-streamed response body.</summary>
    public byte[] Complete(string text, string finishReason, OpenAiUsage usage)
    {
        Utf8JsonWriter w = BeginEvent();
        WriteEnvelope(w, Endpoint == OpenAiEndpoint.ChatCompletions ? "chat.completion" : "text_completion");
        WriteChoice(w, text, finishReason, role: true, whole: true);
        WriteUsage(w, usage);
        w.WriteEndObject();
        w.Flush();
        return _buffer.WrittenSpan.ToArray();
    }

    private ValueTask<FlushResult> WriteChunkAsync(PipeWriter output, string text, string? finishReason, bool role, CancellationToken cancellationToken)
    {
        WriteChunk(BeginEvent(), text, finishReason, role);
        EndEvent(output);
        return output.FlushAsync(cancellationToken);
    }

    private Utf8JsonWriter BeginEvent()
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        return _json;
    }

    private void EndEvent(PipeWriter output)
    {
        _json.Flush();
        output.Write(DataPrefix);
        output.Write(_buffer.WrittenSpan);
        output.Write(EventEnd);
    }

    private void WriteChunk(Utf8JsonWriter w, string? text, string? finishReason, bool role)
    {
        WriteEnvelope(w, Endpoint == OpenAiEndpoint.ChatCompletions ? "chat.completion.chunk" : "text_completion");
        WriteChoice(w, text, finishReason, role, whole: false);
        w.WriteEndObject();
    }

    /// <summary>Writes <c>choices</c> with one choice: chat's <c>message</c> (whole) or <c>delta</c> (chunk), or completions' <c>text</c>.</summary>
    private void WriteChoice(Utf8JsonWriter w, string? text, string? finishReason, bool role, bool whole)
    {
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (Endpoint == OpenAiEndpoint.ChatCompletions)
        {
            w.WriteStartObject(whole ? "message" : "delta");
            if (role)
            {
                w.WriteString("role", "assistant");
            }

            if (text is not null)
            {
                w.WriteString("content", text);
            }

            w.WriteEndObject();
        }
        else
        {
            w.WriteString("text", text ?? string.Empty);
        }

        w.WriteNull("logprobs");
        if (finishReason is null)
        {
            w.WriteNull("finish_reason");
        }
        else
        {
            w.WriteString("finish_reason", finishReason);
        }

        w.WriteEndObject();
        w.WriteEndArray();
    }

    private void WriteEnvelope(Utf8JsonWriter w, string objectType)
    {
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteString("object", objectType);
        w.WriteNumber("created", Created);
        w.WriteString("model", Model);
    }

    private static void WriteUsage(Utf8JsonWriter w, OpenAiUsage usage)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", usage.PromptTokens);
        w.WriteNumber("completion_tokens", usage.CompletionTokens);
        w.WriteNumber("total_tokens", usage.TotalTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", usage.CachedTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
