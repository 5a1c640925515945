namespace Gorgo.Cli.Tests;

public class ReplicaCommandTests
{
    [Theory]
    [InlineData("--port", "70000", "port must be between 0 and 65535")]
    [InlineData("--profile", "tpu-9000", "Unknown engine profile 'tpu-9000'")]
    [InlineData("--default-max-tokens", "0", "default max tokens must be at least 1")]
    [InlineData("--step-jitter", "0.9", "step jitter must be between 0 and 0.5")]
    public void Invalid_settings_are_reported_before_anything_starts(string option, string value, string expected)
    {
        (int code, _, string error) = CliRunner.Run("replica", option, value);
        Assert.Equal(GorgoCommand.BadInput, code);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Help_describes_the_replica_and_its_options()
    {
        (int code, string output, _) = CliRunner.Run("replica", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--profile", output);
        Assert.Contains("h100-8b", output);
    }
}
