using Microsoft.Extensions.Configuration;

namespace Gorgo.Mesh.Options;

/// <summary>Loads <see cref="MeshOptions"/> from a JSON file (or the embedded default), <c>GORGO_</c> environment variables and command-line overrides, in that order.</summary>
public static class MeshConfiguration
{
    /// <summary>Prefix of environment variables that override the file, e.g. <c>GORGO_Consistency=sync</c>, <c>GORGO_Gossip__IntervalMs=100</c>.</summary>
    public const string EnvironmentPrefix = "GORGO_";

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
    public static MeshOptions Load(string? path, IReadOnlyDictionary<string, string?>? overrides = null, bool useEnvironment = true)
    {
        var builder = new ConfigurationBuilder();
        if (path is null)
        {
            builder.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(DefaultJson())));
        }
        else if (!File.Exists(path))
        {
            throw new ArgumentException($"Mesh configuration file '{path}' does not exist.");
        }
        else
        {
            builder.AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: false);
        }

        if (useEnvironment)
        {
            builder.AddEnvironmentVariables(EnvironmentPrefix);
        }

        if (overrides is not null)
        {
            builder.AddInMemoryCollection(overrides.Where(kv => kv.Value is not null));
        }

        try
        {
            IConfigurationRoot configuration = builder.Build();
            var options = new MeshOptions();
            configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
            return options;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or InvalidDataException)
        {
            string source = path ?? "the embedded default configuration";
            throw new ArgumentException($"Cannot read the mesh configuration ({source}, GORGO_ environment variables, flags): {ex.Message}", ex);
        }
    }
}
