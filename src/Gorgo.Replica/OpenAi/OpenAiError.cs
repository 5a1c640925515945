using System.Text.Json;

namespace Gorgo.Replica.OpenAi;

/// <summary>An error to return in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with an HTTP status.</summary>
public sealed class OpenAiError : Exception
{
    /// <summary>Creates an error.</summary>
    public OpenAiError(int status, string message, string type = InvalidRequest, string? param = null, string? code = null)
        : base(message)
    {
        Status = status;
        Type = type;
        Param = param;
        Code = code;
    }

    /// <summary>OpenAI's type for client mistakes.</summary>
    public const string InvalidRequest = "invalid_request_error";

    /// <summary>Type for a missing model or route.</summary>
    public const string NotFound = "not_found_error";

    /// <summary>Type for an overloaded server.</summary>
    public const string RateLimit = "rate_limit_error";

    /// <summary>Type for a server-side failure.</summary>
    public const string Server = "server_error";

    /// <summary>HTTP status to return.</summary>
    public int Status { get; }

    /// <summary>Error type.</summary>
    public string Type { get; }

    /// <summary>The request field at fault, when there is one.</summary>
    public string? Param { get; }

    /// <summary>Machine-readable code, when there is one.</summary>
    public string? Code { get; }

    /// <summary>Seconds after which a retry may succeed, sent as <c>Retry-After</c> (429 and 503), when known.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>400 for a malformed or invalid request.</summary>
    public static OpenAiError BadRequest(string message, string? param = null, string? code = null) => new(400, message, InvalidRequest, param, code);

    /// <summary>404 for an unknown model.</summary>
    public static OpenAiError ModelNotFound(string model) =>
        new(404, $"The model `{model}` does not exist.", NotFound, "model", "model_not_found");

    /// <summary>413 for a prompt that does not fit the model's context.</summary>
    public static OpenAiError ContextTooLong(int promptTokens, int maxTokens, int context) =>
        new(413, $"This model's maximum context length is {context} tokens. However, you requested {promptTokens + (long)maxTokens} tokens ({promptTokens} in the messages, {maxTokens} in the completion). Please reduce the length of the messages or completion.", InvalidRequest, "messages", "context_length_exceeded");

    /// <summary>The error as OpenAI's JSON body.</summary>
    public void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("error");
        writer.WriteString("message", Message);
        writer.WriteString("type", Type);
        WriteNullable(writer, "param", Param);
        WriteNullable(writer, "code", Code);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>The error as OpenAI's JSON body, in a string.</summary>
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, OpenAiJson.WriterOptions))
        {
            WriteJson(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
