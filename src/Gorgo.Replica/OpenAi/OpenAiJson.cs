using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gorgo.Replica.OpenAi;

/// <summary>JSON writing settings shared by every OpenAI-shaped body: text is escaped only where JSON requires it, as OpenAI's own API does.</summary>
public static class OpenAiJson
{
    /// <summary>Writer options: relaxed escaping (no <c>\u0060</c> for backticks, no escaped non-ASCII).</summary>
    public static JsonWriterOptions WriterOptions { get; } = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
