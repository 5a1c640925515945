using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Text.Json;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios.Workload;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Serving;

namespace Gorgo.Bench.Live;

/// <summary>Sends one benchmark request as a streamed completion from its user's region and records what the client sees.</summary>
public sealed class LiveClient(HttpClient http, string model)
{
    /// <summary>The request body: the prompt as token ids, streamed with usage.</summary>
    public byte[] Body(BenchRequest request)
    {
        using var buffer = new MemoryStream(request.Prompt.Length * 6);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteStartArray("prompt");
            foreach (int token in request.Prompt)
            {
                w.WriteNumberValue(token);
            }

            w.WriteEndArray();
            w.WriteNumber("max_tokens", request.OutputTokens);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Sends the request to the first of <paramref name="entryPoints"/> and measures TTFT and end-to-end time from the
    /// moment it leaves. Like an OpenAI SDK client (which retries connection errors) behind DNS or load-balancer
    /// failover, it moves on to the next entry point when one fails before any response (connection refused or dropped)
    /// or answers 503 <c>node_draining</c>, within the same timeout.
    /// </summary>
    public async Task<RequestRecord> SendAsync(string run, BenchRequest request, byte[] body, IReadOnlyList<EntryPoint> entryPoints, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(entryPoints);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var record = new RequestRecord { Run = run, Index = request.Index, UserRegion = request.UserRegion, ArrivalMs = request.ArrivalMs, PromptTokens = request.Prompt.Length };
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; ; i++)
        {
            (RequestRecord result, bool moveOn) = await SendToAsync(record with { EntryRegion = entryPoints[i].Region }, request, body, entryPoints[i].Uri, start, timeout, cts.Token, cancellationToken).ConfigureAwait(false);
            if (!moveOn || i == entryPoints.Count - 1)
            {
                return result with { E2eMs = result.E2eMs ?? Stopwatch.GetElapsedTime(start).TotalMilliseconds };
            }
        }
    }

    /// <summary>One try at one entry point; says whether the next entry point should be tried.</summary>
    private async Task<(RequestRecord Record, bool MoveOn)> SendToAsync(RequestRecord record, BenchRequest request, byte[] body, Uri entryPoint, long start, TimeSpan timeout, CancellationToken deadline, CancellationToken cancellationToken)
    {
        int tokens = 0;
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, new Uri(entryPoint, "v1/completions"))
            {
                Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
            };
            message.Headers.Add(RoutingHeaders.ClientRegion, request.UserRegion);
            using HttpResponseMessage response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline).ConfigureAwait(false);
            record = record with
            {
                Status = (int)response.StatusCode,
                ServedRegion = Header(response, RoutingHeaders.Region),
                Replica = Header(response, RoutingHeaders.Replica),
                EstimatedTtftMs = Header(response, RoutingHeaders.EstimatedTtft) is { } estimate ? double.Parse(estimate.Split(';')[0], CultureInfo.InvariantCulture) : null,
                MatchedTokens = Header(response, RoutingHeaders.MatchedTokens) is { } matched ? int.Parse(matched, CultureInfo.InvariantCulture) : null,
                StateAgeMs = Header(response, RoutingHeaders.StateAge) is { } age ? double.Parse(age, CultureInfo.InvariantCulture) : null,
                HomeIdleOverride = Header(response, RoutingHeaders.HomeIdleOverride) is { } overrode ? overrode == "true" : null,
                Attempts = Header(response, RoutingHeaders.Attempts) is { } attempts ? int.Parse(attempts, CultureInfo.InvariantCulture) : null,
                Tried = Header(response, RoutingHeaders.Tried)?.Replace(',', ';'),
            };
            if (!response.IsSuccessStatusCode)
            {
                string error = await response.Content.ReadAsStringAsync(deadline).ConfigureAwait(false);
                bool draining = response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && error.Contains("node_draining", StringComparison.Ordinal);
                return (record with { Ending = StreamEnding.Refused, Error = error.Length > 300 ? error[..300] : error }, draining);
            }

            record = record with { Ending = StreamEnding.Cut }; // until the stream says otherwise

            double? ttft = null;
            OpenAiUsage? usage = null;
            bool finished = false;
            bool done = false;
            PipeReader reader = PipeReader.Create(await response.Content.ReadAsStreamAsync(deadline).ConfigureAwait(false));
            await foreach (string data in SseReader.ReadEventsAsync(reader, deadline).ConfigureAwait(false))
            {
                if (data == "[DONE]")
                {
                    done = true;
                    break;
                }

                using JsonDocument json = JsonDocument.Parse(data);
                JsonElement root = json.RootElement;
                if (root.TryGetProperty("error", out JsonElement error))
                {
                    return (record with { Ending = StreamEnding.ErrorEvent, TtftMs = ttft, OutputTokens = tokens, Error = error.ToString() }, false);
                }

                if (root.TryGetProperty("usage", out JsonElement u) && u.ValueKind == JsonValueKind.Object)
                {
                    int cached = u.TryGetProperty("prompt_tokens_details", out JsonElement d) && d.TryGetProperty("cached_tokens", out JsonElement c) ? c.GetInt32() : 0;
                    usage = new OpenAiUsage(u.GetProperty("prompt_tokens").GetInt32(), u.GetProperty("completion_tokens").GetInt32(), cached);
                }

                if (root.TryGetProperty("choices", out JsonElement choices) && choices.GetArrayLength() > 0)
                {
                    JsonElement choice = choices[0];
                    if (choice.TryGetProperty("text", out JsonElement text) && text.GetString() is { Length: > 0 })
                    {
                        if (ttft is null)
                        {
                            ttft = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                            record = record with { TtftMs = ttft }; // kept if the stream is cut later
                        }

                        tokens++;
                    }

                    finished |= choice.TryGetProperty("finish_reason", out JsonElement f) && f.ValueKind == JsonValueKind.String;
                }
            }

            return (record with
            {
                Ending = done ? StreamEnding.Done : StreamEnding.Cut,
                Completed = finished && ttft is not null,
                TtftMs = ttft,
                E2eMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds,
                OutputTokens = usage?.CompletionTokens ?? tokens,
                CachedTokens = usage?.CachedTokens ?? 0,
                Error = finished ? null : "the stream ended without a finish reason",
            }, false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (record with { Ending = StreamEnding.TimedOut, OutputTokens = tokens, Error = $"timed out after {timeout.TotalSeconds:F0} s" }, false);
        }
        catch (OperationCanceledException)
        {
            return (record with { Error = "cancelled" }, false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or JsonException or InvalidDataException)
        {
            // Before a status: no response, and like the OpenAI SDKs (which retry connection errors) the client tries the
            // next entry point; after it, the stream was cut.
            return (record with { Ending = record.Status == 0 ? StreamEnding.NoResponse : StreamEnding.Cut, OutputTokens = tokens, Error = ex.Message }, record.Status == 0);
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out IEnumerable<string>? values) ? values.FirstOrDefault() : null;
}
