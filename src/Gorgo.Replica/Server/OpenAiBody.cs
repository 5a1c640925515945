using Gorgo.Replica.OpenAi;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Gorgo.Replica.Server;

/// <summary>Reads an OpenAI request body: JSON by its content type (415 otherwise), at most <see cref="OpenAiRequestParser.MaxBodyBytes"/> (413 beyond).</summary>
public static class OpenAiBody
{
    /// <summary>The body's bytes.</summary>
    /// <exception cref="OpenAiError">415 for a content type other than JSON; 413 for a body over the limit.</exception>
    public static async Task<byte[]> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckContentType(request.ContentType);
        if (request.ContentLength > OpenAiRequestParser.MaxBodyBytes)
        {
            throw TooLarge();
        }

        using var buffer = new MemoryStream(request.ContentLength is { } length ? (int)length : 4096);
        await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.Length > OpenAiRequestParser.MaxBodyBytes ? throw TooLarge() : buffer.ToArray();
    }

    /// <summary>Accepts no content type (curl without <c>-H</c> sends none with <c>--data-binary</c>), <c>application/json</c> and <c>*/*+json</c>.</summary>
    /// <exception cref="OpenAiError">415 for anything else.</exception>
    public static void CheckContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return;
        }

        if (MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? media)
            && media.MediaType.HasValue
            && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.MediaType.Value!.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
            && (!media.Charset.HasValue || media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        throw new OpenAiError(415, $"Unsupported Content-Type '{contentType}': send the request as application/json (UTF-8).", OpenAiError.InvalidRequest, code: "unsupported_media_type");
    }

    private static OpenAiError TooLarge() => new(413, $"The request body exceeds {OpenAiRequestParser.MaxBodyBytes} bytes.", OpenAiError.InvalidRequest, code: "request_too_large");
}
