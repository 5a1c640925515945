using Microsoft.Extensions.Configuration;

namespace Gorgo.Serving;

/// <summary>Loads an options object from a JSON file (or embedded default JSON), <c>GORGO_</c> environment variables and command-line overrides, in that order; unknown keys are errors.</summary>
public static partial class JsonConfiguration
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
            throw new ArgumentException($"Cannot read the configuration ({path ?? "defaults"}, {EnvironmentPrefix} environment variables, flags): {Explain(ex, path)}", ex);
        }
    }

    /// <summary>
    /// One sentence on why binding failed: malformed JSON by file, line and position; a value of the wrong type by its key
    /// path and the type expected; otherwise the reasons down the exception chain (the converter at the bottom says
    /// why, e.g. the valid names of a setting).
    /// </summary>
    internal static string Explain(Exception failure, string? path)
    {
        var reasons = new List<string>();
        for (Exception? e = failure; e is not null; e = e.InnerException)
        {
            if (e is System.Text.Json.JsonException json)
            {
                string why = JsonPosition().Replace(json.Message, string.Empty).Trim();
                return $"{path ?? "the JSON"} is not valid JSON: line {json.LineNumber + 1}, position {json.BytePositionInLine + 1}: {why}";
            }

            if (ConversionFailure().Match(e.Message) is { Success: true } conversion)
            {
                string key = conversion.Groups["key"].Value;
                string type = conversion.Groups["type"].Value;
                string value = conversion.Groups["value"].Success ? $" (got '{conversion.Groups["value"].Value}')" : string.Empty;
                return type.StartsWith("System.", StringComparison.Ordinal)
                    ? $"'{key}' must be {Expected(type)}{value}."
                    : $"'{key}'{value}: {e.InnerException?.Message ?? $"not a valid {type}."}";
            }

            if (!reasons.Contains(e.Message) && !e.Message.Contains("'ErrorOnUnknownConfiguration' was set and binding has failed", StringComparison.Ordinal))
            {
                reasons.Add(e.Message);
            }
        }

        return reasons.Count > 0 ? string.Join(" ", reasons) : failure.Message;
    }

    private static string Expected(string type) => type switch
    {
        "System.Int32" or "System.Int64" or "System.Int16" or "System.UInt32" or "System.UInt64" => "an integer",
        "System.Double" or "System.Single" or "System.Decimal" => "a number",
        "System.Boolean" => "true or false",
        "System.String" => "a string",
        "System.TimeSpan" => "a duration such as 00:00:05",
        _ => $"a value of type {type}",
    };

    [System.Text.RegularExpressions.GeneratedRegex(@"\s*(Path: \S*\s*\|\s*)?LineNumber: \d+ \| BytePositionInLine: \d+\.")]
    private static partial System.Text.RegularExpressions.Regex JsonPosition();

    [System.Text.RegularExpressions.GeneratedRegex(@"Failed to convert configuration value (?:'(?<value>[^']*)' )?at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial System.Text.RegularExpressions.Regex ConversionFailure();
}
