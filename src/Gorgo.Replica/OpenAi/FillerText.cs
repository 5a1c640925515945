namespace Gorgo.Replica.OpenAi;

/// <summary>Deterministic output text for emulated replicas: token i of every response is the same short word.</summary>
public static class FillerText
{
    private static readonly string[] Words =
    [
        " The", " router", " sends", " each", " prompt", " to", " the", " replica", " with", " the", " lowest",
        " estimated", " time", " to", " first", " token", ",", " counting", " network", " delay", ",", " queue",
        " and", " prefill", " of", " uncached", " tokens", ".",
    ];

    /// <summary>The text of output token <paramref name="index"/>.</summary>
    public static string Token(int index) => Words[index % Words.Length];
}
