using Spectre.Console;

namespace Gorgo.Cli;

/// <summary>Creates Spectre consoles that write to a command's configured output (the terminal, or a test's writer).</summary>
internal static class CliConsole
{
    private const int RedirectedWidth = 160;

    public static IAnsiConsole For(TextWriter output)
    {
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal)
        {
            // Redirected output has no width; pick one wide enough for decision tables.
            console.Profile.Width = RedirectedWidth;
        }

        return console;
    }
}
