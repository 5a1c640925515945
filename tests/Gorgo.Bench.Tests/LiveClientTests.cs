using Gorgo.Bench.Live;
using Gorgo.Replica.Hosting;
using Gorgo.Scenarios.Results;
using Gorgo.Scenarios.Workload;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gorgo.Bench.Tests;

/// <summary>The benchmark client tells apart how a response ended: finished, error event, cut, refused, hung.</summary>
public sealed class LiveClientTests : IAsyncLifetime
{
    private const string Chunk = """data: {"id":"c","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":" hi","logprobs":null,"finish_reason":null}]}""";
    private const string Finish = """data: {"id":"c","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"length"}]}""";

    private WebApplication? _server;
    private Uri _address = null!;

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{LoopbackPorts.Free()}");
        _server = builder.Build();
        _server.MapPost("/{kind}/v1/completions", async (HttpContext context, string kind) =>
        {
            if (kind == "draining")
            {
                context.Response.StatusCode = 503;
                await context.Response.WriteAsync("""{"error": {"message": "shutting down", "type": "server_error", "param": null, "code": "node_draining"}}""");
                return;
            }

            if (kind == "refused")
            {
                context.Response.StatusCode = 429;
                await context.Response.WriteAsync("""{"error": {"message": "busy", "type": "rate_limit_error", "param": null, "code": null}}""");
                return;
            }

            context.Response.ContentType = "text/event-stream";
            context.Response.Headers["x-gorgo-attempts"] = kind == "done" ? "3" : "1";
            if (kind == "done")
            {
                context.Response.Headers["x-gorgo-tried"] = "r1,r2";
            }

            await context.Response.WriteAsync(Chunk + "\n\n");
            await context.Response.Body.FlushAsync();
            switch (kind)
            {
                case "done":
                    await context.Response.WriteAsync(Finish + "\n\ndata: [DONE]\n\n");
                    break;
                case "error":
                    await context.Response.WriteAsync("""data: {"error": {"message": "replica died", "type": "server_error", "param": null, "code": "backend_unavailable"}}""" + "\n\ndata: [DONE]\n\n");
                    break;
                case "cut":
                    await Task.Delay(200); // the client has the status and the first chunk: then the connection breaks
                    context.Abort();
                    break;
                case "hang":
                    await Task.Delay(TimeSpan.FromSeconds(20), context.RequestAborted);
                    break;
            }
        });
        await _server.StartAsync();
        _address = new Uri(_server.Urls.Single());
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.StopAsync();
            await _server.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("done", StreamEnding.Done, true)]
    [InlineData("error", StreamEnding.ErrorEvent, false)]
    [InlineData("cut", StreamEnding.Cut, false)]
    [InlineData("hang", StreamEnding.TimedOut, false)]
    [InlineData("refused", StreamEnding.Refused, false)]
    public async Task Each_way_a_response_can_end_is_recorded_as_such(string kind, StreamEnding expected, bool completed)
    {
        using var http = new HttpClient();
        var client = new LiveClient(http, "m");
        var request = new BenchRequest(0, 0, "a", [1, 2, 3], 4);

        // A short deadline only for the one that hangs, so that a busy machine does not turn the others into timeouts.
        TimeSpan deadline = kind == "hang" ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(30);
        RequestRecord record = await client.SendAsync("run", request, client.Body(request), [new EntryPoint("a", new Uri(_address, kind + "/"))], deadline, CancellationToken.None);

        Assert.Equal(expected, record.EffectiveEnding);
        Assert.Equal(completed, record.Completed);
        Assert.Equal(expected.IsLost(), kind is "cut" or "hang");
        Assert.NotNull(record.E2eMs);
        if (kind is "cut" or "error")
        {
            Assert.NotNull(record.TtftMs); // the first token came before the stream broke off
            Assert.Equal(1, record.OutputTokens);
        }

        if (kind == "done")
        {
            Assert.Equal(3, record.Attempts);
            Assert.Equal(["r1", "r2"], record.TriedReplicas);
        }
    }

    [Fact]
    public async Task A_client_moves_on_from_a_refused_connection_and_a_draining_node_to_the_next_entry_point()
    {
        using var http = new HttpClient();
        var client = new LiveClient(http, "m");
        var request = new BenchRequest(0, 0, "a", [1, 2, 3], 4);
        EntryPoint[] entries =
        [
            new("a", new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/")), // nothing listens there: refused
            new("b", new Uri(_address, "draining/")),
            new("c", new Uri(_address, "done/")),
        ];

        RequestRecord record = await client.SendAsync("run", request, client.Body(request), entries, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.True(record.Completed);
        Assert.Equal("c", record.EntryRegion);
    }

    [Fact]
    public async Task A_client_does_not_move_on_after_a_refusal_that_is_not_a_drain()
    {
        using var http = new HttpClient();
        var client = new LiveClient(http, "m");
        var request = new BenchRequest(0, 0, "a", [1, 2, 3], 4);
        EntryPoint[] entries = [new("a", new Uri(_address, "refused/")), new("c", new Uri(_address, "done/"))];

        RequestRecord record = await client.SendAsync("run", request, client.Body(request), entries, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal(StreamEnding.Refused, record.EffectiveEnding);
        Assert.Equal("a", record.EntryRegion);
    }
}
