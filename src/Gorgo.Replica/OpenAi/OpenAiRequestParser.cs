using System.Text.Json;
using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.OpenAi;

/// <summary>Parses and validates OpenAI request bodies, reporting every problem as a 400 <see cref="OpenAiError"/> naming the field.</summary>
public static class OpenAiRequestParser
{
    /// <summary>Largest request body accepted (bytes).</summary>
    public const int MaxBodyBytes = 32 * 1024 * 1024;

    /// <summary>Parses a request body for <paramref name="endpoint"/>.</summary>
    /// <exception cref="OpenAiError">The body is not valid JSON or a field is missing, of the wrong type or out of range.</exception>
    public static OpenAiRequest Parse(ReadOnlyMemory<byte> body, OpenAiEndpoint endpoint)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw OpenAiError.BadRequest($"The request body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiError.BadRequest("The request body must be a JSON object.");
            }

            string model = RequiredString(root, "model");
            int? maxTokens = OptionalPositiveInt(root, "max_tokens") ?? (endpoint == OpenAiEndpoint.ChatCompletions ? OptionalPositiveInt(root, "max_completion_tokens") : null);
            bool stream = OptionalBool(root, "stream") ?? false;
            bool includeUsage = false;
            if (root.TryGetProperty("stream_options", out JsonElement options) && options.ValueKind != JsonValueKind.Null)
            {
                if (options.ValueKind != JsonValueKind.Object)
                {
                    throw OpenAiError.BadRequest("stream_options must be an object.", "stream_options");
                }

                includeUsage = OptionalBool(options, "include_usage", "stream_options.include_usage") ?? false;
            }

            if (root.TryGetProperty("n", out JsonElement n) && n.ValueKind != JsonValueKind.Null && (!n.TryGetInt32(out int count) || count != 1))
            {
                throw OpenAiError.BadRequest("Only n = 1 is supported.", "n");
            }

            return endpoint == OpenAiEndpoint.Completions
                ? ParseCompletion(root, model, maxTokens ?? OpenAiRequest.DefaultCompletionMaxTokens, stream, includeUsage)
                : new OpenAiRequest
                {
                    Endpoint = endpoint,
                    Model = model,
                    Messages = ParseMessages(root),
                    MaxTokens = maxTokens,
                    Stream = stream,
                    IncludeUsage = includeUsage,
                };
        }
    }

    private static OpenAiRequest ParseCompletion(JsonElement root, string model, int maxTokens, bool stream, bool includeUsage)
    {
        if (!root.TryGetProperty("prompt", out JsonElement prompt) || prompt.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiError.BadRequest("Missing required field 'prompt'.", "prompt");
        }

        string? text = null;
        int[]? ids = null;
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                text = prompt.GetString()!;
                break;
            case JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String:
                text = prompt[0].GetString()!;
                break;
            case JsonValueKind.Array when prompt.GetArrayLength() > 0 && prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number):
                ids = prompt.EnumerateArray().Select(e => e.TryGetInt32(out int id) && id >= 0
                    ? id
                    : throw OpenAiError.BadRequest("Token ids in 'prompt' must be non-negative integers.", "prompt")).ToArray();
                break;
            default:
                throw OpenAiError.BadRequest("'prompt' must be a string, an array with one string, or an array of token ids (batches of prompts are not supported).", "prompt");
        }

        if (text is { Length: 0 })
        {
            throw OpenAiError.BadRequest("'prompt' must not be empty.", "prompt");
        }

        return new OpenAiRequest
        {
            Endpoint = OpenAiEndpoint.Completions,
            Model = model,
            Prompt = text,
            PromptTokenIds = ids,
            MaxTokens = maxTokens,
            Stream = stream,
            IncludeUsage = includeUsage,
        };
    }

    private static List<ChatMessage> ParseMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out JsonElement messages) || messages.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiError.BadRequest("Missing required field 'messages'.", "messages");
        }

        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            throw OpenAiError.BadRequest("'messages' must be a non-empty array.", "messages");
        }

        var list = new List<ChatMessage>(messages.GetArrayLength());
        int i = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string path = $"messages[{i}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw OpenAiError.BadRequest($"'{path}' must be an object.", path);
            }

            string role = RequiredString(message, "role", $"{path}.role");
            list.Add(new ChatMessage(role, Content(message, path)));
            i++;
        }

        return list;
    }

    /// <summary>A message's content: a string, or an array of text parts (joined), or null (e.g. assistant tool calls: empty).</summary>
    private static string Content(JsonElement message, string path)
    {
        if (!message.TryGetProperty("content", out JsonElement content) || content.ValueKind == JsonValueKind.Null)
        {
            return string.Empty;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind == JsonValueKind.Array)
        {
            var text = new System.Text.StringBuilder();
            foreach (JsonElement part in content.EnumerateArray())
            {
                if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out JsonElement type) || type.ValueKind != JsonValueKind.String)
                {
                    throw OpenAiError.BadRequest($"'{path}.content' parts must be objects with a 'type'.", $"{path}.content");
                }

                if (type.GetString() != "text")
                {
                    throw OpenAiError.BadRequest($"Content part type '{type.GetString()}' is not supported; only 'text' is.", $"{path}.content");
                }

                text.Append(RequiredString(part, "text", $"{path}.content.text"));
            }

            return text.ToString();
        }

        throw OpenAiError.BadRequest($"'{path}.content' must be a string or an array of content parts.", $"{path}.content");
    }

    private static string RequiredString(JsonElement obj, string name, string? path = null)
    {
        path ??= name;
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            throw OpenAiError.BadRequest($"Missing required field '{path}'.", path);
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw OpenAiError.BadRequest($"'{path}' must be a string.", path);
        }

        string text = value.GetString()!;
        return text.Length > 0 ? text : throw OpenAiError.BadRequest($"'{path}' must not be empty.", path);
    }

    private static int? OptionalPositiveInt(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
        {
            throw OpenAiError.BadRequest($"'{name}' must be an integer.", name);
        }

        return number is >= 1 and <= int.MaxValue
            ? (int)number
            : throw OpenAiError.BadRequest($"'{name}' must be at least 1 (got {number}).", name);
    }

    private static bool? OptionalBool(JsonElement obj, string name, string? path = null)
    {
        if (!obj.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw OpenAiError.BadRequest($"'{path ?? name}' must be a boolean.", path ?? name),
        };
    }
}
