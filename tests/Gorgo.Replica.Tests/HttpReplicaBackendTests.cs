using System.Net;
using System.Net.Sockets;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.Tests;

public class HttpReplicaBackendTests(ReplicaServerFixture server) : IClassFixture<ReplicaServerFixture>
{
    private HttpReplicaBackend Backend(string? model = null, Uri? address = null) =>
        new(new HttpBackendOptions { BaseAddress = address ?? server.BaseAddress, Model = model ?? ReplicaServerFixture.Model, ProbeTimeout = TimeSpan.FromSeconds(2) });

    private static BackendRequest Request(OpenAiEndpoint endpoint, int maxTokens, string model = ReplicaServerFixture.Model, bool stream = true)
    {
        var request = endpoint == OpenAiEndpoint.ChatCompletions
            ? new OpenAiRequest { Endpoint = endpoint, Model = model, Messages = [new ChatMessage("user", "Hello there")], MaxTokens = maxTokens, Stream = stream }
            : new OpenAiRequest { Endpoint = endpoint, Model = model, Prompt = "Hello there", MaxTokens = maxTokens, Stream = stream };
        return new BackendRequest(request, PreparedPrompt.From(request, PromptEncoder.CreateDefault(), 8192, maxTokens));
    }

    [Theory]
    [InlineData(OpenAiEndpoint.Completions)]
    [InlineData(OpenAiEndpoint.ChatCompletions)]
    public async Task Streams_tokens_then_finish_reason_and_usage(OpenAiEndpoint endpoint)
    {
        await using HttpReplicaBackend backend = Backend();
        var chunks = new List<BackendChunk>();
        await foreach (BackendChunk chunk in backend.GenerateAsync(Request(endpoint, 7), CancellationToken.None))
        {
            chunks.Add(chunk);
        }

        Assert.Equal(7, chunks.Count(c => c.Text is not null));
        BackendChunk last = chunks[^1];
        Assert.True(last.IsFinal);
        Assert.Equal("length", last.FinishReason);
        Assert.Equal(7, last.Usage?.CompletionTokens);
        Assert.True(last.Usage?.PromptTokens > 0);
    }

    [Theory]
    [InlineData(OpenAiEndpoint.Completions)]
    [InlineData(OpenAiEndpoint.ChatCompletions)]
    public async Task A_request_the_client_does_not_stream_is_answered_whole(OpenAiEndpoint endpoint)
    {
        await using HttpReplicaBackend backend = Backend();
        var chunks = new List<BackendChunk>();
        await foreach (BackendChunk chunk in backend.GenerateAsync(Request(endpoint, 5, stream: false), CancellationToken.None))
        {
            chunks.Add(chunk);
        }

        Assert.Equal(2, chunks.Count);
        Assert.Equal(" The router sends each prompt", chunks[0].Text);
        Assert.Equal("length", chunks[1].FinishReason);
        Assert.Equal(5, chunks[1].Usage?.CompletionTokens);
    }

    [Fact]
    public async Task Scrapes_load_from_metrics_and_probes_health()
    {
        await using HttpReplicaBackend backend = Backend();
        BackendLoad load = await backend.GetLoadAsync(CancellationToken.None);
        Assert.InRange(load.KvUtilization, 0, 1);
        Assert.True(load.RunningRequests >= 0);
        Assert.True(await backend.CheckHealthAsync(CancellationToken.None));
    }

    [Fact]
    public async Task An_unreachable_backend_is_unhealthy_and_unavailable()
    {
        int port = Gorgo.Replica.Hosting.LoopbackPorts.Free();
        await using HttpReplicaBackend backend = Backend(address: new Uri($"http://127.0.0.1:{port}/"));

        Assert.False(await backend.CheckHealthAsync(CancellationToken.None));
        var ex = await Assert.ThrowsAsync<BackendException>(async () =>
        {
            await foreach (BackendChunk _ in backend.GenerateAsync(Request(OpenAiEndpoint.Completions, 2), CancellationToken.None))
            {
            }
        });
        Assert.Equal(BackendFailure.Unavailable, ex.Failure);
        Assert.Equal(502, ex.ToOpenAiError().Status);
        Assert.Equal(BackendFailure.Unavailable, (await Assert.ThrowsAsync<BackendException>(async () => await backend.GetLoadAsync(CancellationToken.None))).Failure);
    }

    [Fact]
    public async Task Backend_errors_map_to_clear_router_errors()
    {
        await using HttpReplicaBackend backend = Backend(model: "other-model");
        var ex = await Assert.ThrowsAsync<BackendException>(async () =>
        {
            await foreach (BackendChunk _ in backend.GenerateAsync(Request(OpenAiEndpoint.Completions, 2, "other-model"), CancellationToken.None))
            {
            }
        });
        Assert.Equal(BackendFailure.Rejected, ex.Failure);
        Assert.Equal(404, ex.Status);
        Assert.Contains("does not exist", ex.Message);
        Assert.Equal(404, ex.ToOpenAiError().Status);
    }

    [Fact]
    public async Task Cancelling_a_stream_cancels_the_request_on_the_replica()
    {
        await server.WaitUntilIdleAsync();
        await using HttpReplicaBackend backend = Backend();
        using var cts = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (BackendChunk _ in backend.GenerateAsync(Request(OpenAiEndpoint.Completions, 5000), cts.Token))
            {
                if (++received == 3)
                {
                    cts.Cancel();
                }
            }
        });

        Assert.Equal(3, received);
        await server.WaitUntilIdleAsync();
    }

    [Fact]
    public async Task A_slow_backend_times_out()
    {
        // A listener that accepts connections but never answers.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            await using var backend = new HttpReplicaBackend(new HttpBackendOptions { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Model = "m", FirstByteTimeout = TimeSpan.FromMilliseconds(300) });
            var ex = await Assert.ThrowsAsync<BackendException>(async () =>
            {
                await foreach (BackendChunk _ in backend.GenerateAsync(Request(OpenAiEndpoint.Completions, 2, "m"), CancellationToken.None))
                {
                }
            });
            Assert.Equal(BackendFailure.Timeout, ex.Failure);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task The_clients_own_fields_reach_the_replica_unchanged_while_the_router_sets_model_length_and_streaming()
    {
        OpenAiRequest request = OpenAiRequestParser.Parse("""
            {"model": "alias", "messages": [{"role": "user", "content": "hi", "name": "ann"}], "temperature": 0.2,
             "stop": ["\n"], "tools": [{"type": "function", "function": {"name": "f"}}], "max_tokens": 3, "stream": true}
            """u8.ToArray(), OpenAiEndpoint.ChatCompletions);
        await using HttpReplicaBackend backend = Backend(model: "served-name");

        using var body = System.Text.Json.JsonDocument.Parse(backend.RequestBody(new BackendRequest(request, PreparedPrompt.From(request, PromptEncoder.CreateDefault(), 8192, 16))));
        System.Text.Json.JsonElement root = body.RootElement;

        Assert.Equal("served-name", root.GetProperty("model").GetString());
        Assert.Equal(0.2, root.GetProperty("temperature").GetDouble());
        Assert.Equal("\n", root.GetProperty("stop")[0].GetString());
        Assert.Equal("f", root.GetProperty("tools")[0].GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("ann", root.GetProperty("messages")[0].GetProperty("name").GetString());
        Assert.Equal(3, root.GetProperty("max_tokens").GetInt32());
        Assert.True(root.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        string[] names = [.. root.EnumerateObject().Select(p => p.Name)];
        Assert.Equal(names.Length, names.Distinct().Count());
    }

    [Fact]
    public async Task Plain_text_messages_are_rebuilt_rather_than_copied()
    {
        OpenAiRequest request = OpenAiRequestParser.Parse("""{"model": "alias", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}"""u8.ToArray(), OpenAiEndpoint.ChatCompletions);
        await using HttpReplicaBackend backend = Backend(model: "served-name");

        using var body = System.Text.Json.JsonDocument.Parse(backend.RequestBody(new BackendRequest(request, PreparedPrompt.From(request, PromptEncoder.CreateDefault(), 8192, 16))));

        Assert.Null(request.ForwardedJson);
        Assert.Equal("hi", body.RootElement.GetProperty("messages")[0].GetProperty("content").GetString());
        Assert.Equal(["model", "messages", "max_tokens", "stream"], body.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
    }

    [Fact]
    public void Invalid_options_are_rejected()
    {
        Assert.Throws<Routing.Options.RoutingOptionsException>(() => new HttpReplicaBackend(new HttpBackendOptions { BaseAddress = new Uri("ftp://x/"), Model = "" }));
    }
}
