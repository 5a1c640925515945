using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gorgo.Routing.Options;

/// <summary>
/// The names of an enum's values in configuration and scenario files, in kebab case (<c>LocalOnly</c> is
/// <c>local-only</c>), parsed in one place with an error that lists every valid name.
/// </summary>
/// <typeparam name="T">The enum.</typeparam>
public static class EnumNames<T>
    where T : struct, Enum
{
    private static readonly T[] Values = Enum.GetValues<T>();
    private static readonly string[] Names = Values.Select(v => Kebab(v.ToString())).ToArray();

    /// <summary>Every valid name, in declaration order.</summary>
    public static IReadOnlyList<string> All => Names;

    /// <summary>The name of <paramref name="value"/>, e.g. <c>local-only</c>.</summary>
    public static string Name(T value)
    {
        int i = Array.IndexOf(Values, value);
        return i >= 0 ? Names[i] : value.ToString();
    }

    /// <summary>Parses a name (kebab case or the value's own name, any case); false for anything else, numbers included.</summary>
    public static bool TryParse(string? text, out T value)
    {
        string? trimmed = text?.Trim();
        for (int i = 0; i < Values.Length; i++)
        {
            if (string.Equals(trimmed, Names[i], StringComparison.OrdinalIgnoreCase) || string.Equals(trimmed, Values[i].ToString(), StringComparison.OrdinalIgnoreCase))
            {
                value = Values[i];
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>Parses a name; throws <see cref="FormatException"/> saying what <paramref name="what"/> must be.</summary>
    public static T Parse(string? text, string what) =>
        TryParse(text, out T value) ? value : throw new FormatException(Expected(what, text));

    /// <summary>The message for an invalid name: "<paramref name="what"/> must be one of a, b, c (got 'x').".</summary>
    public static string Expected(string what, string? got) => $"{what} must be one of {string.Join(", ", Names)} (got '{got}').";

    private static string Kebab(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0)
            {
                text.Append('-');
            }

            text.Append(char.ToLowerInvariant(c));
        }

        return text.ToString();
    }
}

/// <summary>Reads and writes an enum as its <see cref="EnumNames{T}"/> name in JSON; an unknown name is a <see cref="JsonException"/> listing the valid ones.</summary>
/// <typeparam name="T">The enum.</typeparam>
public sealed class EnumNameJsonConverter<T> : JsonConverter<T>
    where T : struct, Enum
{
    /// <inheritdoc />
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && EnumNames<T>.TryParse(reader.GetString(), out T value)
            ? value
            : throw new JsonException(EnumNames<T>.Expected("The value", reader.TokenType == JsonTokenType.String ? reader.GetString() : reader.TokenType.ToString()));

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(EnumNames<T>.Name(value));
    }
}

/// <summary>Converts an enum from its <see cref="EnumNames{T}"/> name for configuration binding (files, <c>GORGO_</c> variables, flags).</summary>
/// <typeparam name="T">The enum.</typeparam>
public sealed class EnumNameTypeConverter<T> : TypeConverter
    where T : struct, Enum
{
    /// <inheritdoc />
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) => sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc />
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) => destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc />
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? EnumNames<T>.Parse(text, "The value") : base.ConvertFrom(context, culture, value);

    /// <inheritdoc />
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is T typed ? EnumNames<T>.Name(typed) : base.ConvertTo(context, culture, value, destinationType);
}
