using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Backends;
using OpenAI;
using OpenAI.Chat;

namespace Gorgo.Replica.Tests;

public class ReplicaServerTests(ReplicaServerFixture server) : IClassFixture<ReplicaServerFixture>
{
    private ChatClient Chat => new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1") })
        .GetChatClient(ReplicaServerFixture.Model);

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        var reader = System.IO.Pipelines.PipeReader.Create(await response.Content.ReadAsStreamAsync());
        await foreach (string e in SseReader.ReadEventsAsync(reader))
        {
            events.Add(e);
        }

        return events;
    }

    [Fact]
    public async Task The_official_client_streams_a_chat_completion_with_usage()
    {
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (StreamingChatCompletionUpdate update in Chat.CompleteChatStreamingAsync(
            [new SystemChatMessage("You are terse."), new UserChatMessage("Say something.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 12 }))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }

        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(12, usage.OutputTokenCount);
        Assert.True(usage.InputTokenCount > 5);
        Assert.StartsWith(" The router sends each prompt", text.ToString());
    }

    [Fact]
    public async Task The_official_client_gets_a_whole_chat_completion()
    {
        ClientResult<ChatCompletion> result = await Chat.CompleteChatAsync([new UserChatMessage("Hello")], new ChatCompletionOptions { MaxOutputTokenCount = 5 });
        Assert.Equal(5, result.Value.Usage.OutputTokenCount);
        Assert.Equal(" The router sends each prompt", result.Value.Content[0].Text);
    }

    [Fact]
    public async Task A_streamed_completion_ends_with_usage_and_done()
    {
        using HttpResponseMessage response = await server.Http.PostAsync("v1/completions", Json($$"""{"model": "{{ReplicaServerFixture.Model}}", "prompt": "Once upon a time", "max_tokens": 6, "stream": true, "stream_options": {"include_usage": true} }"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        List<string> events = await ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        using JsonDocument usage = JsonDocument.Parse(events[^2]);
        Assert.Equal(0, usage.RootElement.GetProperty("choices").GetArrayLength());
        Assert.Equal(6, usage.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(4, usage.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        using JsonDocument last = JsonDocument.Parse(events[^3]);
        Assert.Equal("length", last.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(6, events.Count(e => e != "[DONE]" && JsonDocument.Parse(e).RootElement.GetProperty("choices") is { ValueKind: JsonValueKind.Array } c && c.GetArrayLength() == 1 && c[0].GetProperty("text").GetString() is { Length: > 0 }));
    }

    [Fact]
    public async Task A_whole_completion_has_text_and_usage_and_token_id_prompts_work()
    {
        using HttpResponseMessage response = await server.Http.PostAsync("v1/completions", Json($$"""{"model": "{{ReplicaServerFixture.Model}}", "prompt": [15339, 1917, 11, 1148], "max_tokens": 3}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("text_completion", json.RootElement.GetProperty("object").GetString());
        Assert.Equal(" The router sends", json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(4, json.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(7, json.RootElement.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Concurrent_streams_interleave()
    {
        async Task<(long First, long Last)> Stream(int i)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json($$"""{"model": "{{ReplicaServerFixture.Model}}", "prompt": "stream {{i}}", "max_tokens": 30, "stream": true}""") };
            using HttpResponseMessage response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var reader = System.IO.Pipelines.PipeReader.Create(await response.Content.ReadAsStreamAsync());
            long first = 0, last = 0;
            await foreach (string e in SseReader.ReadEventsAsync(reader))
            {
                last = Stopwatch.GetTimestamp();
                first = first == 0 ? last : first;
            }

            return (first, last);
        }

        (long First, long Last)[] windows = await Task.WhenAll(Enumerable.Range(0, 4).Select(Stream));

        // Every stream starts before any stream ends: they were served together, not one after another.
        Assert.True(windows.Max(w => w.First) < windows.Min(w => w.Last));
    }

    [Theory]
    [InlineData("v1/completions", "{not json", 400, null)]
    [InlineData("v1/completions", "[1, 2]", 400, null)]
    [InlineData("v1/completions", """{"prompt": "x"}""", 400, "model")]
    [InlineData("v1/completions", """{"model": 7, "prompt": "x"}""", 400, "model")]
    [InlineData("v1/completions", """{"model": "test-model"}""", 400, "prompt")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "max_tokens": "ten"}""", 400, "max_tokens")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "max_tokens": 0}""", 400, "max_tokens")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "stream": "yes"}""", 400, "stream")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "n": 3}""", 400, "n")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": ["a", "b"]}""", 400, "prompt")]
    [InlineData("v1/completions", """{"model": "nope", "prompt": "x"}""", 404, "model")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "max_tokens": 9000}""", 413, "messages")]
    [InlineData("v1/chat/completions", """{"model": "test-model"}""", 400, "messages")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": []}""", 400, "messages")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"content": "hi"}]}""", 400, "messages[0].role")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": 5}]}""", 400, "messages[0].content")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": "x"}], "stream_options": 1}""", 400, "stream_options")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "n": ""}""", 400, "n")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "n": []}""", 400, "n")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "n": {}}""", 400, "n")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "n": true}""", 400, "n")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "temperature": "hot"}""", 400, "temperature")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "stop": 5}""", 400, "stop")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "frobnicate": 1}""", 400, "frobnicate")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "x", "model": "test-model"}""", 400, "model")]
    [InlineData("v1/completions", """{"model": "test-model", "prompt": "\ud800"}""", 400, "prompt")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": "a\udc00b"}]}""", 400, "messages[0].content")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": "x", "name": 5}]}""", 400, "messages[0].name")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": "x"}], "tools": "all"}""", 400, "tools")]
    [InlineData("v1/chat/completions", """{"model": "test-model", "messages": [{"role": "user", "content": "x"}], "logprobs": 3}""", 400, "logprobs")]
    public async Task Bad_requests_get_openai_shaped_errors_with_the_right_status(string path, string body, int status, string? param)
    {
        using HttpResponseMessage response = await server.Http.PostAsync(path, Json(body));

        Assert.Equal(status, (int)response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement error = json.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()));
        Assert.True(error.TryGetProperty("code", out _));
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task Invalid_utf8_in_a_body_is_a_400_not_a_server_error()
    {
        byte[] body = [.. Encoding.UTF8.GetBytes("""{"model": "test-model", "prompt": "ab"""), 0xFF, 0xC0, .. Encoding.UTF8.GetBytes("\"}")];
        using HttpResponseMessage response = await server.Http.PostAsync("v1/completions", new ByteArrayContent(body) { Headers = { ContentType = new("application/json") } });

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("UTF-8", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/json; charset=latin1")]
    public async Task A_body_that_is_not_json_by_its_content_type_is_415(string contentType)
    {
        var content = new ByteArrayContent("""{"model": "test-model", "prompt": "x"}"""u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using HttpResponseMessage response = await server.Http.PostAsync("v1/completions", content);

        Assert.Equal(415, (int)response.StatusCode);
        using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("unsupported_media_type", json.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Thousands_of_mutated_bodies_get_no_server_error_and_openai_shaped_errors()
    {
        var fuzzer = new RequestFuzzer(ReplicaServerFixture.Model, seed: 1);
        IReadOnlyList<string> failures = await RequestFuzzer.RunAsync(server.Http, fuzzer.Generate(1_500));

        Assert.True(failures.Count == 0, $"{failures.Count} bad answers, the first: {failures.FirstOrDefault()}");
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_413()
    {
        string prompt = string.Concat(Enumerable.Repeat("lorem ipsum dolor ", 4000));
        using HttpResponseMessage response = await server.Http.PostAsync("v1/completions", Json(JsonSerializer.Serialize(new { model = ReplicaServerFixture.Model, prompt, max_tokens = 1 })));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("context_length_exceeded", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Unknown_routes_are_404_in_openai_shape_and_models_and_health_answer()
    {
        using HttpResponseMessage missing = await server.Http.GetAsync("v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("\"error\"", await missing.Content.ReadAsStringAsync());

        using JsonDocument models = JsonDocument.Parse(await server.Http.GetStringAsync("v1/models"));
        Assert.Equal(ReplicaServerFixture.Model, models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("health")).StatusCode);
    }

    [Fact]
    public async Task Metrics_parse_as_prometheus_text_with_vllm_names()
    {
        using (await server.Http.PostAsync("v1/completions", Json($$"""{"model": "{{ReplicaServerFixture.Model}}", "prompt": "metrics please", "max_tokens": 2}"""))) { }

        string text = await server.Http.GetStringAsync("metrics");
        IReadOnlyList<PrometheusSample> samples = PrometheusText.Parse(text);

        Assert.Contains(samples, s => s.Name == "vllm:num_requests_running" && s.Labels["model_name"] == ReplicaServerFixture.Model);
        Assert.Contains(samples, s => s.Name == "vllm:kv_cache_usage_perc");
        Assert.Contains(samples, s => s.Name == "vllm:prefix_cache_queries_total" && s.Value > 0);
        Assert.Contains(samples, s => s.Name == "vllm:time_to_first_token_seconds_count" && s.Value >= 1);
        Assert.Contains(samples, s => s.Name == "vllm:time_to_first_token_seconds_bucket" && s.Labels["le"] == "+Inf");
        BackendLoad load = EngineMetricNames.ToLoad(samples, ReplicaServerFixture.Model, DateTimeOffset.UtcNow);
        Assert.True(load.PrefixQueryTokens > 0);
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_batch_slot()
    {
        await server.WaitUntilIdleAsync();
        long cancelledBefore = server.Replica.Engine.Metrics.Cancelled;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = Json($$"""{"model": "{{ReplicaServerFixture.Model}}", "prompt": "a long one", "max_tokens": 5000, "stream": true}""") })
        using (HttpResponseMessage response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var stream = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[256];
            Assert.True(await stream.ReadAsync(buffer) > 0);
            Assert.Equal(1, server.Replica.Engine.State.RunningRequests);
        }

        await server.WaitUntilIdleAsync();
        Assert.Equal(cancelledBefore + 1, server.Replica.Engine.Metrics.Cancelled);
    }
}
