using System.Text.Json;

namespace Gorgo.Cli.Tests;

public class RouteCommandTests : IDisposable
{
    private const string Question = "My parcel NW12345678901 missed its delivery window yesterday. Can you open a trace now?";
    private readonly string _temp = Directory.CreateTempSubdirectory("gorgo-cli-tests").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static string[] SampleArgs(params string[] extra) =>
        ["route", "--state", CliRunner.Sample("route", "state.json"), "--prompt-file", CliRunner.Sample("route", "handbook.txt"), "--prompt", Question, .. extra];

    [Fact]
    public void Gorgo_sends_the_sample_question_to_the_idle_replica_that_caches_the_handbook()
    {
        (int code, string output, string error) = CliRunner.Run(SampleArgs());

        Assert.True(code == 0, error);
        Assert.Contains("routes a 796-token prompt to euc-1 (eu-central, cross-region)", output);
        Assert.Contains("Runner-up: apn-1", output);
    }

    [Fact]
    public void Json_output_is_the_full_decision_record()
    {
        (int code, string output, _) = CliRunner.Run(SampleArgs("--json"));

        Assert.Equal(0, code);
        using JsonDocument json = JsonDocument.Parse(output);
        JsonElement root = json.RootElement;
        Assert.Equal("gorgo", root.GetProperty("policy").GetString());
        Assert.Equal("euc-1", root.GetProperty("chosen").GetString());
        Assert.Equal(4, root.GetProperty("candidates").GetArrayLength());
        JsonElement chosen = root.GetProperty("candidates").EnumerateArray().Single(c => c.GetProperty("replicaId").GetString() == "euc-1");
        JsonElement ttft = chosen.GetProperty("estimatedTtftMs");
        double sum = ttft.GetProperty("network").GetDouble() + ttft.GetProperty("queue").GetDouble() + ttft.GetProperty("prefill").GetDouble() + ttft.GetProperty("overhead").GetDouble();
        Assert.Equal(ttft.GetProperty("total").GetDouble(), sum, 2);
        Assert.Equal(180, chosen.GetProperty("stateAgeMs").GetDouble());
    }

    [Theory]
    [InlineData("least-load", "apn-1")]
    [InlineData("prefix", "euc-1")]
    [InlineData("gorgo", "euc-1")]
    public void Each_policy_applies_its_own_rule_to_the_sample(string policy, string expected)
    {
        (int code, string output, _) = CliRunner.Run(SampleArgs("--policy", policy, "--json"));
        Assert.Equal(0, code);
        Assert.Equal(expected, JsonDocument.Parse(output).RootElement.GetProperty("chosen").GetString());
    }

    [Fact]
    public void Deciding_from_eu_central_keeps_the_request_home()
    {
        (int code, string output, _) = CliRunner.Run(SampleArgs("--region", "eu-central", "--json"));
        Assert.Equal(0, code);
        JsonElement root = JsonDocument.Parse(output).RootElement;
        Assert.Equal("euc-1", root.GetProperty("chosen").GetString());
        Assert.False(root.GetProperty("isCrossRegion").GetBoolean());
    }

    [Fact]
    public void Missing_state_file_is_a_bad_input_error()
    {
        (int code, _, string error) = CliRunner.Run("route", "--state", Path.Combine(_temp, "nope.json"), "--prompt", "x");
        Assert.Equal(GorgoCommand.BadInput, code);
        Assert.Contains("Cannot read state file", error);
    }

    [Fact]
    public void Unknown_policy_lists_the_known_ones()
    {
        (int code, _, string error) = CliRunner.Run(SampleArgs("--policy", "fastest"));
        Assert.Equal(GorgoCommand.BadInput, code);
        Assert.Contains("Unknown policy 'fastest'", error);
        Assert.Contains("power-of-two", error);
    }

    [Theory]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m", "runing": 3 } ] }""", "runing")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m", "queued": -2 } ] }""", "queued requests cannot be negative")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": -1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m" } ] }""", "non-negative")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "b", "model": "m" } ] }""", "No RTT given between 'a' and 'b'")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m" }, { "id": "r", "region": "a", "model": "m" } ] }""", "appears twice")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [] }""", "no replicas")]
    [InlineData("""{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m", "health": "sleepy" } ] }""", "not valid")]
    [InlineData("""{ "region": """, "not valid")]
    public void Invalid_state_files_get_clear_errors(string json, string expected)
    {
        string path = Path.Combine(_temp, "state.json");
        File.WriteAllText(path, json);

        (int code, _, string error) = CliRunner.Run("route", "--state", path, "--prompt", "hello");

        Assert.Equal(GorgoCommand.BadInput, code);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void An_unroutable_request_exits_with_failure_and_says_why()
    {
        string path = Path.Combine(_temp, "state.json");
        File.WriteAllText(path, """{ "region": "a", "rtt": { "a": { "a": 1 } }, "replicas": [ { "id": "r", "region": "a", "model": "m", "health": "unhealthy" } ] }""");

        (int code, _, string error) = CliRunner.Run("route", "--state", path, "--prompt", "hello");

        Assert.Equal(GorgoCommand.Failed, code);
        Assert.Contains("NoHealthyReplica", error);
    }

    [Fact]
    public void Chat_files_are_flattened_and_cannot_be_mixed_with_a_prompt()
    {
        string chat = Path.Combine(_temp, "chat.json");
        File.WriteAllText(chat, """[ { "role": "system", "content": "You are terse." }, { "role": "user", "content": "Hi" } ]""");

        (int ok, string output, _) = CliRunner.Run("route", "--state", CliRunner.Sample("route", "state.json"), "--chat", chat, "--json");
        (int mixed, _, string error) = CliRunner.Run("route", "--state", CliRunner.Sample("route", "state.json"), "--chat", chat, "--prompt", "x");

        Assert.Equal(0, ok);
        Assert.True(JsonDocument.Parse(output).RootElement.GetProperty("promptTokens").GetInt32() > 5);
        Assert.Equal(GorgoCommand.BadInput, mixed);
        Assert.Contains("either --chat or --prompt", error);
    }

    [Fact]
    public void An_empty_prompt_is_rejected()
    {
        (int code, _, string error) = CliRunner.Run("route", "--state", CliRunner.Sample("route", "state.json"));
        Assert.Equal(GorgoCommand.BadInput, code);
        Assert.Contains("No prompt", error);
    }
}
