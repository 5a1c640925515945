using System.Text.Json.Nodes;
using Gorgo.Routing.Hashing;
using Gorgo.Routing.Tokens;
using Gorgo.Testing;

namespace Gorgo.Routing.Tests;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> (the shipped cut-down Qwen2.5 vocabulary) gives the ids Hugging Face's own
/// implementation gives: the expected ids below come from <c>@huggingface/tokenizers</c> 0.2.0 (see the fixture's README).
/// </summary>
public sealed class HuggingFaceTokenizerTests
{
    private static readonly string TinyQwen = Paths.Tokenizer("qwen2.5-tiny");

    public static TheoryData<string, int[]> Reference => new()
    {
        { "The router hashes each block of sixteen tokens.", [785, 435, 2676, 702, 71, 288, 1817, 2504, 315, 274, 941, 665, 268, 311, 74, 724, 13] },
        { "I'll say it: DON'T re-tokenize 12345 numbers!", [40, 6, 654, 1977, 432, 25, 422, 711, 6, 51, 312, 2385, 1679, 551, 220, 16, 17, 18, 19, 20, 1629, 1902, 0] },
        { "naïve cafe\u0301 — 中文测试 😀", [77, 64, 127, 107, 586, 2162, 69, 963, 1959, 220, 160, 116, 255, 162, 244, 229, 162, 113, 233, 164, 107, 243, 220, 172, 253, 246, 222] },
        { "<|im_start|>user\nWhat's the TTFT?<|im_end|>\n<|im_start|>assistant\n", [151644, 872, 198, 1639, 266, 594, 279, 350, 51, 37, 51, 30, 151645, 198, 151644, 395, 380, 517, 198] },
        { "def f(x):\n    return x ** 2\r\n\r\n\tdone   ", [750, 282, 2075, 982, 262, 470, 856, 3070, 220, 17, 871, 2698, 603, 262] },
    };

    [Theory]
    [MemberData(nameof(Reference))]
    public void Token_ids_are_those_of_hugging_faces_implementation(string text, int[] expected)
    {
        HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.Load(TinyQwen);
        var ids = new List<int>();

        tokenizer.Encode(text, ids);

        Assert.Equal(expected, ids);
        Assert.Null(tokenizer.BeginningOfSequence);
        Assert.Equal("qwen2.5-tiny", tokenizer.Name);
    }

    [Fact]
    public void Merges_written_as_pairs_read_the_same_as_merges_written_as_strings()
    {
        JsonObject json = Fixture();
        JsonArray merges = json["model"]!["merges"]!.AsArray();
        json["model"]!["merges"] = new JsonArray([.. merges.Select(m => (JsonNode)new JsonArray([.. m!.GetValue<string>().Split(' ').Select(p => (JsonNode)p)]))]);

        Assert.Equal(Ids(HuggingFaceTokenizer.Load(TinyQwen), "Pairs or strings, 2024."), Ids(Load(json), "Pairs or strings, 2024."));
    }

    [Fact]
    public void A_post_processors_leading_special_token_opens_every_text_prompt_as_the_engine_does()
    {
        // Llama 3's layout: a template that puts <|begin_of_text|> before the sequence.
        JsonObject json = Fixture();
        json["post_processor"] = JsonNode.Parse("""
            { "type": "Sequence", "processors": [
              { "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true },
              { "type": "TemplateProcessing",
                "single": [ { "SpecialToken": { "id": "<|endoftext|>", "type_id": 0 } }, { "Sequence": { "id": "A", "type_id": 0 } } ],
                "pair": [], "special_tokens": { "<|endoftext|>": { "id": "<|endoftext|>", "ids": [151643], "tokens": ["<|endoftext|>"] } } } ] }
            """);
        HuggingFaceTokenizer tokenizer = Load(json);
        var encoder = new PromptEncoder(tokenizer, new BlockHasher(16));

        Assert.Equal(151643, tokenizer.BeginningOfSequence);
        int[] tokens = encoder.Tokenize("The router hashes each block of sixteen tokens.");
        Assert.Equal([151643, 785, 435, 2676, 702, 71, 288, 1817, 2504, 315, 274, 941, 665, 268, 311, 74, 724, 13], tokens);
        Assert.Equal(151643, encoder.Tokenize([new ChatMessage("user", "hi")])[0]);
    }

    [Theory]
    [InlineData("""{ "type": "WordPiece" }""", null, "model type 'WordPiece' is not supported")]
    [InlineData(null, """{ "type": "Metaspace", "replacement": "▁" }""", "pre-tokenizer 'Metaspace' is not supported")]
    [InlineData(null, """{ "type": "Split", "pattern": { "String": " " }, "behavior": "Removed" }""", "behavior 'Removed' is not supported")]
    public void A_tokenizer_it_cannot_run_is_refused_naming_the_part(string? model, string? preTokenizer, string expected)
    {
        JsonObject json = Fixture();
        if (model is not null)
        {
            json["model"]!["type"] = JsonNode.Parse(model)!["type"]!.GetValue<string>();
        }

        if (preTokenizer is not null)
        {
            json["pre_tokenizer"] = JsonNode.Parse(preTokenizer);
        }

        ArgumentException ex = Assert.Throws<ArgumentException>(() => Load(json));
        Assert.Contains(expected, ex.Message);
        Assert.Contains("tokenizer.json", ex.Message);
    }

    [Fact]
    public void A_missing_or_malformed_file_is_reported_with_its_path()
    {
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => HuggingFaceTokenizer.Load("/nonexistent/tokenizer.json")).Message);
        string dir = Directory.CreateTempSubdirectory("gorgo-tok").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, "{ \"model\": ");
            string message = Assert.Throws<ArgumentException>(() => HuggingFaceTokenizer.Load(path)).Message;
            Assert.Contains(path, message);
            Assert.Contains("is not valid JSON", message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static JsonObject Fixture() => JsonNode.Parse(File.ReadAllText(TinyQwen))!.AsObject();

    private static HuggingFaceTokenizer Load(JsonObject json)
    {
        string dir = Directory.CreateTempSubdirectory("gorgo-tok").FullName;
        try
        {
            string path = Path.Combine(dir, "tokenizer.json");
            File.WriteAllText(path, json.ToJsonString());
            return HuggingFaceTokenizer.Load(path);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int[] Ids(IPromptTokenizer tokenizer, string text)
    {
        var ids = new List<int>();
        tokenizer.Encode(text, ids);
        return [.. ids];
    }
}
