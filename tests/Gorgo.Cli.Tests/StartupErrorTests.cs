using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>A command that cannot start says why in one line, without a stack trace, and exits non-zero.</summary>
public sealed class StartupErrorTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-startup").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static void AssertOneLine(string error)
    {
        string[] lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got {lines.Length}:\n{error}");
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void A_replica_whose_port_is_taken_names_the_port_and_the_flag()
    {
        using var held = new TcpListener(IPAddress.Loopback, 0);
        held.Start();
        int port = ((IPEndPoint)held.LocalEndpoint).Port;

        (int code, _, string error) = CliRunner.Run("replica", "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(GorgoCommand.Failed, code);
        AssertOneLine(error);
        Assert.Contains($"127.0.0.1:{port}", error, StringComparison.Ordinal);
        Assert.Contains("--port", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_whose_ingress_port_is_taken_names_the_address_and_the_setting()
    {
        using var held = new TcpListener(IPAddress.Loopback, 0);
        held.Start();
        int port = ((IPEndPoint)held.LocalEndpoint).Port;
        JsonNode config = JsonNode.Parse(File.ReadAllText(CliRunner.Sample("three-regions", "mesh.json")))!;
        config["Regions"]!["us-east"]!["IngressUrl"] = $"http://127.0.0.1:{port}";
        config["Regions"]!["us-east"]!["SiloPort"] = LoopbackPorts.Free();
        config["Regions"]!["us-east"]!["GatewayPort"] = LoopbackPorts.Free();

        (int code, _, string error) = CliRunner.Run("node", "--region", "us-east", "--config", Write("mesh.json", config.ToJsonString()));

        Assert.Equal(GorgoCommand.Failed, code);
        AssertOneLine(error);
        Assert.Contains($"127.0.0.1:{port}", error, StringComparison.Ordinal);
        Assert.Contains("IngressUrl", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_json_configuration_names_the_file_line_and_position()
    {
        string path = Write("broken.json", "{\n  \"Consistency\": \"gossip\",\n  \"Policy\": { \"Name\": gorgo }\n}\n");

        (int code, _, string error) = CliRunner.Run("node", "--region", "us-east", "--config", path);

        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains("broken.json", error, StringComparison.Ordinal);
        Assert.Contains("line 3", error, StringComparison.Ordinal);
        Assert.Contains("position", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Admission", "MaxConcurrentRequests", "\"many\"", "Admission:MaxConcurrentRequests")]
    [InlineData("Gossip", "IntervalMs", "2.5", "Gossip:IntervalMs")]
    [InlineData("Admission", "DrainTimeoutMs", "true", "Admission:DrainTimeoutMs")]
    public void A_wrongly_typed_setting_names_its_key_and_the_expected_type(string section, string key, string value, string expectedPath)
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(CliRunner.Sample("three-regions", "mesh.json")))!;
        config[section] = JsonNode.Parse($"{{\"{key}\": {value}}}");

        (int code, _, string error) = CliRunner.Run("node", "--region", "us-east", "--config", Write("typed.json", config.ToJsonString()));

        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains(expectedPath, error, StringComparison.Ordinal);
        Assert.Contains("integer", error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_tokenizer_file_that_cannot_be_read_is_named_in_one_line()
    {
        string tokenizer = Write("tokenizer.json", "{ \"model\": { \"type\": \"Unigram\", \"vocab\": [] } }");
        JsonNode config = JsonNode.Parse(File.ReadAllText(CliRunner.Sample("three-regions", "mesh.json")))!;
        foreach (JsonNode? replica in config["Replicas"]!.AsArray())
        {
            replica!["Tokenizer"] = tokenizer;
        }

        (int code, _, string error) = CliRunner.Run("node", "--region", "us-east", "--config", Write("tok.json", config.ToJsonString()));

        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains(tokenizer, error, StringComparison.Ordinal);
        Assert.Contains("model type 'Unigram' is not supported", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run("replica", "--port", "0", "--tokenizer", tokenizer);
        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains("model type 'Unigram' is not supported", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gateway_with_a_taken_port_or_bad_settings_says_so_in_one_line()
    {
        using var held = new TcpListener(IPAddress.Loopback, 0);
        held.Start();
        int port = ((IPEndPoint)held.LocalEndpoint).Port;

        (int code, _, string error) = CliRunner.Run("gateway", "--region", "eu-central", "--upstream", "http://127.0.0.1:9/", "--listen", $"http://127.0.0.1:{port}");
        Assert.Equal(GorgoCommand.Failed, code);
        AssertOneLine(error);
        Assert.Contains($"127.0.0.1:{port}", error, StringComparison.Ordinal);
        Assert.Contains("--listen", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run("gateway", "--region", "eu-central", "--upstream", "not-a-url");
        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains("not-a-url", error, StringComparison.Ordinal);

        (code, _, error) = CliRunner.Run("gateway", "--region", "eu-central", "--upstream", "http://127.0.0.1:9/", "--request-timeout", "0");
        Assert.Equal(GorgoCommand.BadInput, code);
        AssertOneLine(error);
        Assert.Contains("RequestTimeoutSeconds", error, StringComparison.Ordinal);
    }
}
