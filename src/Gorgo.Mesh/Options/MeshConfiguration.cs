using Gorgo.Serving;

namespace Gorgo.Mesh.Options;

/// <summary>Loads <see cref="MeshOptions"/> from a JSON file (or the embedded default), <c>GORGO_</c> environment variables and command-line overrides, in that order.</summary>
public static class MeshConfiguration
{
    /// <summary>The embedded default configuration (the three-region local deployment of <c>gorgo up</c>) as JSON text.</summary>
    public static string DefaultJson()
    {
        using Stream stream = typeof(MeshConfiguration).Assembly.GetManifestResourceStream("Gorgo.Mesh.mesh.default.json")
            ?? throw new InvalidOperationException("The embedded default mesh configuration is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Loads the configuration; throws <see cref="ArgumentException"/> naming the file or key at fault.</summary>
    /// <param name="path">A JSON file, or null for the embedded default.</param>
    /// <param name="overrides">Keys (e.g. <c>Consistency</c>, <c>Policy:Name</c>) set last, typically from command-line flags.</param>
    /// <param name="useEnvironment">Whether <c>GORGO_</c> environment variables apply.</param>
    public static MeshOptions Load(string? path, IReadOnlyDictionary<string, string?>? overrides = null, bool useEnvironment = true) =>
        JsonConfiguration.Load<MeshOptions>(path, DefaultJson(), overrides, useEnvironment);
}
