using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gorgo.Replica.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Gorgo.Replica.Tests;

/// <summary><c>gorgo replica --tokenizer</c>: the emulated engine counts a text prompt's tokens with the model's own tokenizer.</summary>
public sealed class ReplicaTokenizerTests
{
    [Fact]
    public async Task A_text_prompt_is_counted_in_the_models_tokens()
    {
        // 17 tokens in the shipped cut-down Qwen2.5 vocabulary (Hugging Face's implementation agrees); 9 in cl100k_base.
        const string Text = "The router hashes each block of sixteen tokens.";
        Assert.Equal(17, await PromptTokensAsync(Paths.Tokenizer("qwen2.5-tiny"), Text));
        Assert.Equal(9, await PromptTokensAsync(null, Text));
    }

    [Fact]
    public void A_missing_tokenizer_file_is_refused_at_start_up()
    {
        var options = new ReplicaServerOptions { Port = 0, Tokenizer = "/nonexistent/tokenizer.json" };
        Assert.Contains("tokenizer file '/nonexistent/tokenizer.json' does not exist", string.Join(' ', options.Validate()));
    }

    private static async Task<int> PromptTokensAsync(string? tokenizer, string text)
    {
        WebApplication app = ReplicaServer.Build(new ReplicaServerOptions { Port = 0, Model = "m", Profile = "h100-8b", Tokenizer = tokenizer }, logging => logging.ClearProviders());
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single() + "/") };
            using HttpResponseMessage response = await http.PostAsJsonAsync("v1/completions", new { model = "m", prompt = text, max_tokens = 1 });
            response.EnsureSuccessStatusCode();
            return (int)(await response.Content.ReadFromJsonAsync<JsonObject>())!["usage"]!["prompt_tokens"]!;
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
