using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Options;

namespace Gorgo.Replica.Backends;

/// <summary>Settings of an <see cref="HttpReplicaBackend"/>.</summary>
public sealed record HttpBackendOptions
{
    /// <summary>The server's base address, e.g. <c>http://10.0.0.5:8000/</c> (the OpenAI API is under <c>/v1</c>).</summary>
    public required Uri BaseAddress { get; init; }

    /// <summary>The model name to send.</summary>
    public required string Model { get; init; }

    /// <summary>Longest wait for the response headers (queueing included).</summary>
    public TimeSpan FirstByteTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Longest wait between two streamed events.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of a <c>/health</c> probe or <c>/metrics</c> scrape.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Optional API key sent as a bearer token.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(BaseAddress is { IsAbsoluteUri: true } && (BaseAddress.Scheme == Uri.UriSchemeHttp || BaseAddress.Scheme == Uri.UriSchemeHttps), $"baseAddress must be an absolute http(s) URI (got '{BaseAddress}').")
        .Check(!string.IsNullOrWhiteSpace(Model), "model is required.")
        .Check(FirstByteTimeout > TimeSpan.Zero && IdleTimeout > TimeSpan.Zero && ProbeTimeout > TimeSpan.Zero, "timeouts must be positive.")
        .Errors;
}

/// <summary>A backend speaking the OpenAI API over HTTP to vLLM, SGLang or <c>gorgo replica</c>: streams responses, scrapes <c>/metrics</c>, probes <c>/health</c>.</summary>
public sealed class HttpReplicaBackend : IReplicaBackend
{
    private readonly HttpClient _http;
    private readonly bool _ownsClient;

    /// <summary>Creates a backend; when <paramref name="http"/> is null one is created and disposed with the backend.</summary>
    public HttpReplicaBackend(HttpBackendOptions options, HttpClient? http = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        new OptionsErrors().Include(options.Validate()).ThrowIfAny("HTTP backend options");
        Options = options.BaseAddress.AbsoluteUri.EndsWith('/')
            ? options
            : options with { BaseAddress = new Uri(options.BaseAddress.AbsoluteUri + "/") };
        _ownsClient = http is null;
        _http = http ?? new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2) }) { Timeout = Timeout.InfiniteTimeSpan };
        Time = time ?? TimeProvider.System;
    }

    /// <summary>The settings in force.</summary>
    public HttpBackendOptions Options { get; }

    /// <inheritdoc />
    public string Model => Options.Model;

    private TimeProvider Time { get; }

    /// <inheritdoc />
    public async IAsyncEnumerable<BackendChunk> GenerateAsync(BackendRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        OpenAiEndpoint endpoint = request.Request.Endpoint;
        using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(Options.BaseAddress, endpoint == OpenAiEndpoint.ChatCompletions ? "v1/chat/completions" : "v1/completions"))
        {
            Content = new ByteArrayContent(RequestBody(request)) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        Authorize(message);

        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        idle.CancelAfter(Options.FirstByteTimeout);
        HttpResponseMessage response = await SendAsync(message, idle, cancellationToken).ConfigureAwait(false);
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorFromAsync(response, cancellationToken).ConfigureAwait(false);
            }

            if (!request.Request.Stream)
            {
                // The client wants one whole answer: ask the backend for one too, which saves it (and us) the event stream.
                (string? wholeText, string? wholeFinish, OpenAiUsage? wholeUsage) = ParseWhole(await response.Content.ReadAsStringAsync(idle.Token).ConfigureAwait(false), endpoint);
                if (!string.IsNullOrEmpty(wholeText))
                {
                    yield return new BackendChunk(wholeText);
                }

                yield return new BackendChunk(null, wholeFinish ?? "stop", wholeUsage);
                yield break;
            }

            Stream body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            PipeReader reader = PipeReader.Create(body);
            string? finish = null;
            OpenAiUsage? usage = null;
            await using IAsyncEnumerator<string> events = SseReader.ReadEventsAsync(reader, idle.Token).GetAsyncEnumerator(idle.Token);
            while (true)
            {
                idle.CancelAfter(Options.IdleTimeout);
                bool more;
                try
                {
                    more = await events.MoveNextAsync().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new BackendException(BackendFailure.Timeout, $"{Options.BaseAddress} sent nothing for {Options.IdleTimeout.TotalSeconds:0.#} s.");
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException)
                {
                    throw new BackendException(BackendFailure.Unavailable, $"The stream from {Options.BaseAddress} broke: {ex.Message}", inner: ex);
                }

                if (!more || events.Current == "[DONE]")
                {
                    break;
                }

                (string? text, string? finishReason, OpenAiUsage? chunkUsage) = ParseChunk(events.Current, endpoint);
                usage = chunkUsage ?? usage;
                finish = finishReason ?? finish;
                if (!string.IsNullOrEmpty(text))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return new BackendChunk(text);
                }
            }

            await reader.CompleteAsync().ConfigureAwait(false);
            if (finish is null)
            {
                throw new BackendException(BackendFailure.Failed, $"The stream from {Options.BaseAddress} ended without a finish reason.");
            }

            yield return new BackendChunk(null, finish, usage);
        }
    }

    /// <inheritdoc />
    public async ValueTask<BackendLoad> GetLoadAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.ProbeTimeout);
        using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(Options.BaseAddress, "metrics"));
        Authorize(message);
        using HttpResponseMessage response = await SendAsync(message, timeout, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new BackendException(BackendFailure.Failed, $"{Options.BaseAddress}metrics answered {(int)response.StatusCode}.", (int)response.StatusCode);
        }

        string text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
        try
        {
            return EngineMetricNames.ToLoad(PrometheusText.Parse(text), Options.Model, Time.GetUtcNow());
        }
        catch (FormatException ex)
        {
            throw new BackendException(BackendFailure.Failed, $"{Options.BaseAddress}metrics is not usable: {ex.Message}", inner: ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.ProbeTimeout);
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(Options.BaseAddress, "health"));
            using HttpResponseMessage response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return false;
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (_ownsClient)
        {
            _http.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The JSON sent to the backend: the client's request with this replica's model name and the router's output length, streamed with usage when the client streams.</summary>
    internal byte[] RequestBody(BackendRequest request)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, OpenAiJson.WriterOptions))
        {
            OpenAiRequest r = request.Request;
            w.WriteStartObject();
            w.WriteString("model", Options.Model);
            bool wroteMessages = false;
            if (r.ForwardedJson is { } forwarded)
            {
                // The client's own fields (sampling settings, tools, messages with more than text) go through unchanged.
                using JsonDocument fields = JsonDocument.Parse(forwarded);
                foreach (JsonProperty field in fields.RootElement.EnumerateObject())
                {
                    field.WriteTo(w);
                    wroteMessages |= field.NameEquals("messages");
                }
            }

            if (r.Messages is { } messages)
            {
                if (!wroteMessages)
                {
                    WriteMessages(w, messages);
                }
            }
            else if (r.PromptTokenIds is { } ids)
            {
                w.WriteStartArray("prompt");
                foreach (int id in ids)
                {
                    w.WriteNumberValue(id);
                }

                w.WriteEndArray();
            }
            else
            {
                w.WriteString("prompt", r.Prompt);
            }

            w.WriteNumber("max_tokens", request.Prompt.MaxTokens);
            w.WriteBoolean("stream", r.Stream);
            if (r.Stream)
            {
                w.WriteStartObject("stream_options");
                w.WriteBoolean("include_usage", true);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static void WriteMessages(Utf8JsonWriter w, IReadOnlyList<Routing.Tokens.ChatMessage> messages)
    {
        w.WriteStartArray("messages");
        foreach (Routing.Tokens.ChatMessage m in messages)
        {
            w.WriteStartObject();
            w.WriteString("role", m.Role);
            w.WriteString("content", m.Content);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private void Authorize(HttpRequestMessage message)
    {
        if (Options.ApiKey is { } key)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage message, CancellationTokenSource timeout, CancellationToken caller)
    {
        try
        {
            return await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            throw new BackendException(BackendFailure.Timeout, $"{message.RequestUri} did not answer in time.");
        }
        catch (HttpRequestException ex)
        {
            throw new BackendException(BackendFailure.Unavailable, $"Cannot reach {message.RequestUri}: {ex.Message}", inner: ex);
        }
    }

    private static async Task<BackendException> ErrorFromAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        int status = (int)response.StatusCode;
        string detail;
        try
        {
            string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            using JsonDocument json = JsonDocument.Parse(body);
            detail = json.RootElement.TryGetProperty("error", out JsonElement error) && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out JsonElement m)
                ? m.GetString() ?? body
                : body;
        }
        catch (JsonException)
        {
            detail = response.ReasonPhrase ?? "no detail";
        }

        BackendFailure failure = response.StatusCode switch
        {
            HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable => BackendFailure.Overloaded,
            >= HttpStatusCode.BadRequest and < HttpStatusCode.InternalServerError => BackendFailure.Rejected,
            _ => BackendFailure.Failed,
        };
        return new BackendException(failure, $"The backend answered {status}: {detail}", status);
    }

    private static (string? Text, string? FinishReason, OpenAiUsage? Usage) ParseWhole(string body, OpenAiEndpoint endpoint) =>
        ParseChunk(body, endpoint, whole: true);

    private static (string? Text, string? FinishReason, OpenAiUsage? Usage) ParseChunk(string data, OpenAiEndpoint endpoint, bool whole = false)
    {
        try
        {
            using JsonDocument json = JsonDocument.Parse(data);
            JsonElement root = json.RootElement;
            if (root.TryGetProperty("error", out JsonElement error))
            {
                throw new BackendException(BackendFailure.Failed, $"The backend reported an error mid-stream: {error}");
            }

            string? text = null;
            string? finish = null;
            if (root.TryGetProperty("choices", out JsonElement choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0)
            {
                JsonElement choice = choices[0];
                if (endpoint == OpenAiEndpoint.ChatCompletions)
                {
                    if (choice.TryGetProperty(whole ? "message" : "delta", out JsonElement delta) && delta.TryGetProperty("content", out JsonElement content) && content.ValueKind == JsonValueKind.String)
                    {
                        text = content.GetString();
                    }
                }
                else if (choice.TryGetProperty("text", out JsonElement t) && t.ValueKind == JsonValueKind.String)
                {
                    text = t.GetString();
                }

                if (choice.TryGetProperty("finish_reason", out JsonElement f) && f.ValueKind == JsonValueKind.String)
                {
                    finish = f.GetString();
                }
            }

            OpenAiUsage? usage = null;
            if (root.TryGetProperty("usage", out JsonElement u) && u.ValueKind == JsonValueKind.Object)
            {
                int cached = u.TryGetProperty("prompt_tokens_details", out JsonElement details) && details.ValueKind == JsonValueKind.Object
                    && details.TryGetProperty("cached_tokens", out JsonElement c) && c.TryGetInt32(out int ct) ? ct : 0;
                usage = new OpenAiUsage(u.GetProperty("prompt_tokens").GetInt32(), u.GetProperty("completion_tokens").GetInt32(), cached);
            }

            return (text, finish, usage);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new BackendException(BackendFailure.Failed, $"The backend sent a malformed chunk: {ex.Message}", inner: ex);
        }
    }
}
