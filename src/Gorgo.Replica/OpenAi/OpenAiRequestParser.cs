using System.Text;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.OpenAi;

/// <summary>Parses and validates OpenAI request bodies, reporting every problem as a 400 <see cref="OpenAiError"/> naming the field.</summary>
public static class OpenAiRequestParser
{
    /// <summary>Largest request body accepted (bytes).</summary>
    public const int MaxBodyBytes = 32 * 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    /// <summary>Parses a request body for <paramref name="endpoint"/>.</summary>
    /// <exception cref="OpenAiError">
    /// The body is not UTF-8 JSON, holds text that is not valid Unicode, repeats or does not know a field, or a field is
    /// missing, of the wrong type or out of range.
    /// </exception>
    public static OpenAiRequest Parse(ReadOnlyMemory<byte> body, OpenAiEndpoint endpoint)
    {
        if (!Utf8.IsValid(body.Span))
        {
            throw OpenAiError.BadRequest($"The request body is not valid UTF-8 (first invalid byte at offset {FirstInvalidUtf8(body.Span)}).");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, DocumentOptions);
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

            CheckText(root, string.Empty);
            CheckFields(root, endpoint);

            string model = RequiredString(root, "model");
            int? maxTokens = OptionalPositiveInt(root, "max_tokens") ?? (endpoint == OpenAiEndpoint.ChatCompletions ? OptionalPositiveInt(root, "max_completion_tokens") : null);
            bool stream = OptionalBool(root, "stream") ?? false;
            bool includeUsage = false;
            if (root.TryGetProperty("stream_options", out JsonElement options) && options.ValueKind == JsonValueKind.Object)
            {
                includeUsage = OptionalBool(options, "include_usage", "stream_options.include_usage") ?? false;
                _ = OptionalBool(options, "continuous_usage_stats", "stream_options.continuous_usage_stats");
            }

            if (root.TryGetProperty("n", out JsonElement n) && n.ValueKind == JsonValueKind.Number && (!n.TryGetInt32(out int count) || count != 1))
            {
                throw OpenAiError.BadRequest("Only n = 1 is supported.", "n");
            }

            OpenAiRequest request = endpoint == OpenAiEndpoint.Completions
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
            return request with { ForwardedJson = Forwarded(root) }; // after validation: the fields have their shapes
        }
    }

    /// <summary>Every top-level field must be known to the endpoint, given once, and of its type (or null).</summary>
    private static void CheckFields(JsonElement root, OpenAiEndpoint endpoint)
    {
        var fields = OpenAiFields.Of(endpoint);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            string name = property.Name;
            if (!seen.Add(name))
            {
                throw OpenAiError.BadRequest($"The field '{name}' is given more than once.", name);
            }

            if (!fields.TryGetValue(name, out FieldKinds kinds))
            {
                throw OpenAiError.BadRequest($"Unrecognized request argument supplied: {name}", name, "unknown_parameter");
            }

            if (property.Value.ValueKind != JsonValueKind.Null && !OpenAiFields.Matches(property.Value, kinds))
            {
                throw OpenAiError.BadRequest($"'{name}' must be {OpenAiFields.Describe(kinds)}.", name);
            }
        }
    }

    /// <summary>Every string and field name must be valid Unicode: an escaped lone surrogate (<c>"\ud800"</c>) is not.</summary>
    private static void CheckText(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                // The body is valid UTF-8 already, so only a \u escape can hold an unpaired surrogate: decode just those.
                if (JsonMarshal.GetRawUtf8Value(element).IndexOf("\\u"u8) >= 0 && !TryGetString(element, out _))
                {
                    throw OpenAiError.BadRequest($"'{PathOrBody(path)}' is not valid Unicode text (it holds an unpaired surrogate).", NullIfEmpty(path));
                }

                break;
            case JsonValueKind.Object:
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw OpenAiError.BadRequest($"A field name in '{PathOrBody(path)}' is not valid Unicode text (it holds an unpaired surrogate).", NullIfEmpty(path));
                    }

                    CheckText(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                }

                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in element.EnumerateArray())
                {
                    CheckText(item, $"{path}[{i++}]");
                }

                break;
        }
    }

    /// <summary>
    /// The client's fields the router does not own, as one JSON object, forwarded to HTTP replicas as given. The prompt
    /// and plain text messages are rebuilt exactly from their parsed form, so they are not copied; messages with
    /// anything more (content parts, names, tool calls) are.
    /// </summary>
    private static byte[]? Forwarded(JsonElement root)
    {
        int count = 0;
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (JsonProperty property in root.EnumerateObject())
            {
                bool rebuilt = property.NameEquals("prompt") || (property.NameEquals("messages") && PlainMessages(property.Value));
                if (!rebuilt && !OpenAiFields.RouterOwned.Contains(property.Name))
                {
                    property.WriteTo(writer);
                    count++;
                }
            }

            writer.WriteEndObject();
        }

        return count > 0 ? buffer.ToArray() : null;
    }

    private static bool PlainMessages(JsonElement messages)
    {
        foreach (JsonElement message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            foreach (JsonProperty field in message.EnumerateObject())
            {
                if (!(field.NameEquals("role") || (field.NameEquals("content") && field.Value.ValueKind == JsonValueKind.String)))
                {
                    return false;
                }
            }
        }

        return true;
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
            OptionalOfKind(message, "name", FieldKinds.String, path);
            OptionalOfKind(message, "tool_call_id", FieldKinds.String, path);
            OptionalOfKind(message, "tool_calls", FieldKinds.Array, path);
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
            var text = new StringBuilder();
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

    private static void OptionalOfKind(JsonElement obj, string name, FieldKinds kinds, string parent)
    {
        if (obj.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null && !OpenAiFields.Matches(value, kinds))
        {
            throw OpenAiError.BadRequest($"'{parent}.{name}' must be {OpenAiFields.Describe(kinds)}.", $"{parent}.{name}");
        }
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

    private static bool TryGetString(JsonElement element, out string? text)
    {
        try
        {
            text = element.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            text = null;
            return false;
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (offset < bytes.Length)
        {
            if (System.Buffers.OperationStatus.Done != System.Text.Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed))
            {
                return offset;
            }

            offset += consumed;
        }

        return offset;
    }

    private static string PathOrBody(string path) => path.Length == 0 ? "the request body" : path;

    private static string? NullIfEmpty(string path) => path.Length == 0 ? null : path;
}
