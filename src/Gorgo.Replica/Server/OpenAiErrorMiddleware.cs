using Gorgo.Replica.OpenAi;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gorgo.Replica.Server;

/// <summary>Turns <see cref="OpenAiError"/>s into OpenAI-shaped responses, ends quietly when the client left, and never lets a bug become a bare 500.</summary>
public sealed class OpenAiErrorMiddleware(RequestDelegate next, ILogger<OpenAiErrorMiddleware> logger)
{
    /// <summary>Runs the pipeline with the error handling.</summary>
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its request has been cancelled. Nothing to answer.
        }
        catch (OpenAiError error)
        {
            await WriteAsync(context, error).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            await WriteAsync(context, new OpenAiError(ex.StatusCode, ex.Message)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Unhandled error serving {Path}", context.Request.Path);
            await WriteAsync(context, new OpenAiError(500, "The server failed to process the request.", OpenAiError.Server)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes <paramref name="error"/>: as the body, or, when an event stream has already started, as its last event
    /// followed by <c>[DONE]</c>; a whole JSON response that has started cannot be mended, so its connection is cut.
    /// </summary>
    public static async Task WriteAsync(HttpContext context, OpenAiError error)
    {
        if (context.Response.HasStarted)
        {
            if (context.Response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true && !context.RequestAborted.IsCancellationRequested)
            {
                await OpenAiResponses.WriteErrorEndAsync(context.Response.BodyWriter, error, context.RequestAborted).ConfigureAwait(false);
                return;
            }

            context.Abort();
            return;
        }

        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        if (error.RetryAfterSeconds is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await context.Response.WriteAsync(error.ToJson(), context.RequestAborted).ConfigureAwait(false);
    }
}
