using Gorgo.Replica.Backends;
using Gorgo.Replica.Hosting;
using Gorgo.Replica.OpenAi;
using Gorgo.Routing.Tokens;

namespace Gorgo.Replica.Tests;

public class InProcessBackendTests
{
    [Fact]
    public async Task Runs_requests_on_the_engine_and_reports_exact_load_and_cache_hits()
    {
        await using var backend = new InProcessBackend(new EngineHost(ReplicaServerFixture.Profile), "m");
        var request = new OpenAiRequest { Endpoint = OpenAiEndpoint.Completions, Model = "m", Prompt = string.Concat(Enumerable.Repeat("shared system prompt text ", 40)), MaxTokens = 4 };
        var prepared = PreparedPrompt.From(request, PromptEncoder.CreateDefault(), 8192, 4);

        async Task<OpenAiUsage?> Run()
        {
            OpenAiUsage? usage = null;
            await foreach (BackendChunk chunk in backend.GenerateAsync(new BackendRequest(request, prepared), CancellationToken.None))
            {
                usage = chunk.Usage ?? usage;
            }

            return usage;
        }

        OpenAiUsage? first = await Run();
        OpenAiUsage? second = await Run();

        Assert.Equal(0, first?.CachedTokens);
        Assert.Equal(prepared.Blocks.BlockCount * 16, second?.CachedTokens);
        BackendLoad load = await backend.GetLoadAsync(CancellationToken.None);
        Assert.Equal(0, load.RunningRequests);
        Assert.Equal(prepared.Blocks.TokenCount * 2L, load.PrefixQueryTokens);
        Assert.True(await backend.CheckHealthAsync(CancellationToken.None));
    }
}
