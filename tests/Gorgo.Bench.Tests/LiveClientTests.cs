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
            if (kind == "refused")
            {
                context.Response.StatusCode = 429;
                await context.Response.WriteAsync("""{"error": {"message": "busy", "type": "rate_limit_error", "param": null, "code": null}}""");
                return;
            }

            context.Response.ContentType = "text/event-stream";
            context.Response.Headers["x-gorgo-attempts"] = kind == "done" ? "2" : "1";
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
        RequestRecord record = await client.SendAsync("run", request, client.Body(request), new Uri(_address, kind + "/"), deadline, CancellationToken.None);

        Assert.Equal(expected, record.EffectiveEnding);
        Assert.Equal(completed, record.Completed);
        Assert.Equal(expected.IsLost(), kind is "cut" or "hang");
        if (kind == "done")
        {
            Assert.Equal(2, record.Attempts);
        }
    }
}
