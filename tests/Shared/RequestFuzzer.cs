using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gorgo.Testing;

/// <summary>One fuzzed request: where it goes, its body bytes and its content type (null: none).</summary>
public sealed record FuzzedRequest(string Path, byte[] Body, string? ContentType)
{
    /// <summary>The request as a printable string, for failure messages.</summary>
    public override string ToString() => $"POST {Path} [{ContentType ?? "no content type"}] {Encoding.UTF8.GetString(Body)}";
}

/// <summary>
/// A deterministic corpus of mutated OpenAI request bodies: valid seeds for both endpoints whose fields are replaced by
/// values of every JSON type, removed, duplicated or joined by unknown ones, whose strings get invalid UTF-8 or unpaired
/// surrogates, whose bytes are flipped, cut or nested deeply, sent with right and wrong content types. With
/// <see cref="CheckAsync"/>, the test that no body gets a 5xx and every error is OpenAI-shaped.
/// </summary>
public sealed class RequestFuzzer(string model, int seed)
{
    private static readonly string[] Values =
    [
        "\"\"", "\"x\"", "\"\\ud800\"", "\"a\\udc00b\"", "-1", "0", "1", "2.5", "1e309", "-0", "9223372036854775808", "true", "false",
        "null", "[]", "[1]", "[\"a\"]", "[null]", "{}", "{\"a\": 1}", "{\"type\": \"text\"}", "[{\"type\": \"image_url\"}]", "[[[[[[]]]]]]",
    ];

    private static readonly string?[] ContentTypes =
    [
        "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", null, "application/vnd.api+json",
        "multipart/form-data", "application/xml",
    ];

    private readonly Random _random = new(seed);

    /// <summary>The corpus.</summary>
    public IEnumerable<FuzzedRequest> Generate(int count)
    {
        for (int i = 0; i < count; i++)
        {
            yield return Next();
        }
    }

    /// <summary>Null when the response is acceptable for a fuzzed body: below 500, errors in OpenAI's shape, streams ending in [DONE].</summary>
    public static async Task<string?> CheckAsync(FuzzedRequest request, HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        int status = (int)response.StatusCode;
        if (status >= 500)
        {
            return $"{status} for {request}: {body}";
        }

        if (status >= 400)
        {
            try
            {
                using JsonDocument json = JsonDocument.Parse(body);
                JsonElement error = json.RootElement.GetProperty("error");
                return error.GetProperty("message").ValueKind == JsonValueKind.String && error.GetProperty("type").ValueKind == JsonValueKind.String
                    ? null
                    : $"{status} without an OpenAI error for {request}: {body}";
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return $"{status} with a body that is not an OpenAI error for {request}: {body}";
            }
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            return $"unexpected {status} for {request}";
        }

        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            string last = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty;
            return last == "data: [DONE]" && !body.Contains("\"error\"", StringComparison.Ordinal) ? null : $"a stream that did not end cleanly for {request}: {body}";
        }

        return body.Contains("\"choices\"", StringComparison.Ordinal) ? null : $"a 200 without choices for {request}: {body}";
    }

    /// <summary>Sends the corpus, eight at a time; returns the bad answers, and checks that the corpus reached valid requests, validation errors and wrong content types.</summary>
    public static async Task<IReadOnlyList<string>> RunAsync(HttpClient http, IEnumerable<FuzzedRequest> corpus)
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var statuses = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await Parallel.ForEachAsync(corpus, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (request, _) =>
        {
            using HttpResponseMessage response = await SendAsync(http, request);
            statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            if (await CheckAsync(request, response) is { } failure)
            {
                failures.Add(failure);
            }
        });

        Assert.True(statuses.ContainsKey(200) && statuses.ContainsKey(400) && statuses.ContainsKey(415), $"the corpus should reach 200, 400 and 415; statuses seen: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}x{s.Value}"))}");
        return [.. failures];
    }

    /// <summary>Sends <paramref name="request"/> with <paramref name="http"/>.</summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient http, FuzzedRequest request)
    {
        var content = new ByteArrayContent(request.Body);
        if (request.ContentType is { } type)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        else
        {
            content.Headers.ContentType = null;
        }

        using var message = new HttpRequestMessage(HttpMethod.Post, request.Path) { Content = content };
        return await http.SendAsync(message, HttpCompletionOption.ResponseContentRead);
    }

    private FuzzedRequest Next()
    {
        bool chat = _random.Next(2) == 0;
        List<(string Name, string Raw)> fields = chat ? ChatSeed() : CompletionSeed();
        int mutations = 1 + _random.Next(3);
        bool bytes = false;
        for (int m = 0; m < mutations; m++)
        {
            switch (_random.Next(10))
            {
                case 0 or 1 or 2:
                    int i = _random.Next(fields.Count);
                    fields[i] = (fields[i].Name, Pick(Values));
                    break;
                case 3:
                    fields.RemoveAt(_random.Next(fields.Count));
                    break;
                case 4:
                    fields.Add((Pick(["temperature", "frobnicate", "n", "tools", "stop", "model", "user", "logprobs", "seed"]), Pick(Values)));
                    break;
                case 5:
                    fields.Add(fields[_random.Next(fields.Count)]);
                    break;
                case 6 when chat:
                    int at = fields.FindIndex(f => f.Name == "messages");
                    if (at >= 0)
                    {
                        fields[at] = ("messages", $"[{{\"role\": {Pick(Values)}, \"content\": {Pick(Values)}}}, {{\"role\": \"user\", \"content\": \"hi\", \"name\": {Pick(Values)}}}]");
                    }

                    break;
                default:
                    bytes = true;
                    break;
            }
        }

        byte[] body = Encoding.UTF8.GetBytes("{" + string.Join(", ", fields.Select(f => $"\"{f.Name}\": {f.Raw}")) + "}");
        if (bytes)
        {
            body = MutateBytes(body);
        }

        string? contentType = _random.Next(8) == 0 ? Pick(ContentTypes) : "application/json";
        return new FuzzedRequest(chat ? "v1/chat/completions" : "v1/completions", body, contentType);
    }

    private List<(string, string)> CompletionSeed() =>
    [
        ("model", $"\"{model}\""),
        ("prompt", Pick(["\"Hello fuzz\"", "[\"one prompt\"]", "[15339, 1917, 11]"])),
        ("max_tokens", "2"),
        ("stream", Pick(["true", "false"])),
        ("temperature", "0.5"),
        ("stop", "[\"\\n\"]"),
    ];

    private List<(string, string)> ChatSeed() =>
    [
        ("model", $"\"{model}\""),
        ("messages", Pick(["[{\"role\": \"user\", \"content\": \"Hi\"}]", "[{\"role\": \"system\", \"content\": \"Be brief\"}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi\"}]}]"])),
        ("max_completion_tokens", "2"),
        ("stream", Pick(["true", "false"])),
        ("stream_options", "{\"include_usage\": true}"),
        ("seed", "7"),
    ];

    private byte[] MutateBytes(byte[] body)
    {
        var bytes = new List<byte>(body);
        switch (_random.Next(7))
        {
            case 0:
                bytes[_random.Next(bytes.Count)] ^= (byte)(1 << _random.Next(8));
                break;
            case 1:
                bytes.Insert(_random.Next(bytes.Count), (byte)_random.Next(256));
                break;
            case 2:
                bytes.RemoveRange(_random.Next(bytes.Count), 1);
                break;
            case 3:
                bytes = bytes.Take(_random.Next(bytes.Count)).ToList();
                break;
            case 4:
                // Invalid UTF-8 inside a string value: after an opening quote.
                int quote = bytes.IndexOf((byte)'"', _random.Next(bytes.Count));
                bytes.InsertRange(quote < 0 ? 0 : quote + 1, Pick<byte[]>([[0xFF], [0xC0, 0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]]));
                break;
            case 5:
                return Encoding.UTF8.GetBytes(new string('[', 200) + new string(']', 200));
            default:
                var noise = new byte[_random.Next(64)];
                _random.NextBytes(noise);
                return noise;
        }

        return [.. bytes];
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];
}
