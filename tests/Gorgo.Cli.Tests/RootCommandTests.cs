namespace Gorgo.Cli.Tests;

public class RootCommandTests
{
    [Fact]
    public void Help_lists_the_route_command()
    {
        (int code, string output, _) = CliRunner.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("route", output);
        Assert.Contains("estimated time to first token", output);
    }

    [Fact]
    public void The_gorgo_executable_prints_the_product_version()
    {
        // The version comes from the entry assembly, so run the real executable rather than the in-process command.
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "gorgo.dll"), "--version"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, process.ExitCode);
        Assert.StartsWith("0.1.0", output.Trim());
    }

    [Fact]
    public void An_unknown_command_is_a_parse_error()
    {
        (int code, _, string error) = CliRunner.Run("fly");
        Assert.NotEqual(0, code);
        Assert.Contains("fly", error);
    }
}
