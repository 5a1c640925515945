using Microsoft.Extensions.Configuration;

namespace Gorgo.Serving;

/// <summary>Loads an options object from a JSON file (or embedded default JSON), <c>GORGO_</c> environment variables and command-line overrides, in that order; unknown keys are errors.</summary>
public static class JsonConfiguration
{
    /// <summary>Prefix of environment variables that override the file, e.g. <c>GORGO_Consistency=sync</c>, <c>GORGO_Gossip__IntervalMs=100</c>.</summary>
    public const string EnvironmentPrefix = "GORGO_";

    /// <summary>Binds <typeparamref name="T"/>; throws <see cref="ArgumentException"/> naming the source and key at fault.</summary>
    /// <param name="path">A JSON file, or null to use <paramref name="defaultJson"/>.</param>
    /// <param name="defaultJson">JSON used when there is no file (null: start from the type's defaults).</param>
    /// <param name="overrides">Keys (e.g. <c>Consistency</c>, <c>Policy:Name</c>) set last; null values are skipped.</param>
    /// <param name="useEnvironment">Whether <c>GORGO_</c> environment variables apply.</param>
    public static T Load<T>(string? path, string? defaultJson, IReadOnlyDictionary<string, string?>? overrides = null, bool useEnvironment = true)
        where T : new()
    {
        var builder = new ConfigurationBuilder();
        if (path is not null)
        {
            if (!File.Exists(path))
            {
                throw new ArgumentException($"Configuration file '{path}' does not exist.");
            }

            builder.AddJsonFile(Path.GetFullPath(path), optional: false, reloadOnChange: false);
        }
        else if (defaultJson is not null)
        {
            builder.AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(defaultJson)));
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
            var options = new T();
            builder.Build().Bind(options, o => o.ErrorOnUnknownConfiguration = true);
            return options;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or InvalidDataException)
        {
            // The binder says which key failed, further down its exception chain; the converter at the bottom says why
            // (e.g. the valid names of a setting).
            var reasons = new List<string>();
            for (Exception? e = ex; e is not null; e = e.InnerException)
            {
                if (!reasons.Contains(e.Message) && !e.Message.Contains("'ErrorOnUnknownConfiguration' was set and binding has failed", StringComparison.Ordinal))
                {
                    reasons.Add(e.Message);
                }
            }

            string reason = reasons.Count > 0 ? string.Join(" ", reasons) : ex.Message;
            throw new ArgumentException($"Cannot read the configuration ({path ?? "defaults"}, {EnvironmentPrefix} environment variables, flags): {reason}", ex);
        }
    }
}
