using System.Buffers;
using System.Net;
using Gorgo.Replica.Backends;
using Gorgo.Replica.OpenAi;
using Gorgo.Serving.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Gorgo.Serving.Gateway;

/// <summary>What a gateway has done since it started: its counters, read by <c>/gateway/state</c> (and counted in <c>/metrics</c> as it happens).</summary>
public sealed class GatewayStats
{
    private readonly KeyValuePair<string, object?> _region;
    private long _requests;
    private long _failedOver;
    private long _unavailable;
    private long _endedWithErrorEvent;

    /// <summary>Counters for a gateway of <paramref name="region"/>; its metric series start at zero.</summary>
    public GatewayStats(string region)
    {
        _region = new("region", region);
        GorgoMetrics.RegisterGateway(region);
    }

    /// <summary>Requests forwarded.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Times a node failed before answering and the next one was tried.</summary>
    public long FailedOver => Interlocked.Read(ref _failedOver);

    /// <summary>Requests no node answered (502 to the client).</summary>
    public long Unavailable => Interlocked.Read(ref _unavailable);

    /// <summary>Streams whose node failed after answering, ended with an OpenAI error event and <c>[DONE]</c>.</summary>
    public long EndedWithErrorEvent => Interlocked.Read(ref _endedWithErrorEvent);

    internal void Request() => Interlocked.Increment(ref _requests);

    internal void FailOver()
    {
        Interlocked.Increment(ref _failedOver);
        GorgoMetrics.GatewayFailovers.Add(1, _region);
    }

    internal void NoNode() => Interlocked.Increment(ref _unavailable);

    internal void ErrorEvent() => Interlocked.Increment(ref _endedWithErrorEvent);

    internal void Ended(string outcome) => GorgoMetrics.GatewayRequests.Add(1, _region, new("outcome", outcome));
}

/// <summary>
/// Forwards one OpenAI request to the mesh: to the first node of <see cref="GatewayOptions.Upstreams"/> that answers,
/// moving on (after a jittered pause, through a Polly retry) when a node refuses the connection, breaks it before
/// answering, or answers 500/502/503/504 (a draining node says 503). A node's front door answers only once the first
/// token exists, so every such move happens before the client has seen anything. A stream whose node fails after it
/// answered ends with an OpenAI error event and <c>[DONE]</c> rather than a cut connection: the gateway outlives the
/// nodes, so even the streams of a node killed outright end cleanly.
/// </summary>
public sealed class GatewayForwarder
{
    /// <summary>The response header saying how many nodes were tried.</summary>
    public const string AttemptsHeader = "x-gorgo-gateway-attempts";

    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Host", "Content-Length",
    };

    private readonly HttpClient _http;
    private readonly GatewayOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<HttpResponseMessage> _failover;

    /// <summary>Creates a forwarder sending through <paramref name="http"/> (which should not follow redirects or time out by itself).</summary>
    public GatewayForwarder(GatewayOptions options, HttpClient http, ILogger<GatewayForwarder> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.EnsureValid();
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        Stats = new GatewayStats(_options.Region);
        _failover = _options.Upstreams.Count == 1
            ? ResiliencePipeline<HttpResponseMessage>.Empty
            : new ResiliencePipelineBuilder<HttpResponseMessage>()
                .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
                {
                    MaxRetryAttempts = _options.Upstreams.Count - 1,
                    BackoffType = DelayBackoffType.Constant,
                    Delay = TimeSpan.FromMilliseconds(_options.RetryDelayMs),
                    UseJitter = true,
                    ShouldHandle = args => ValueTask.FromResult(ShouldMoveOn(args.Outcome, args.Context.CancellationToken)),
                    OnRetry = args =>
                    {
                        args.Outcome.Result?.Dispose();
                        Stats.FailOver();
                        _logger.LogWarning("Node {Attempt} of {Nodes} did not answer ({Reason}); trying the next", args.AttemptNumber + 1, _options.Upstreams.Count, args.Outcome.Exception?.Message ?? $"status {(int?)args.Outcome.Result?.StatusCode}");
                        return ValueTask.CompletedTask;
                    },
                })
                .Build();
    }

    /// <summary>The gateway's counters.</summary>
    public GatewayStats Stats { get; }

    /// <summary>The settings in force.</summary>
    public GatewayOptions Options => _options;

    /// <summary>Forwards the request of <paramref name="context"/> and relays the answer; failures become OpenAI-shaped errors (thrown as <see cref="OpenAiError"/>).</summary>
    public async Task ForwardAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Stats.Request();
        string outcome = "answered";
        try
        {
            await ForwardCoreAsync(context).ConfigureAwait(false);
        }
        catch (OpenAiError error)
        {
            outcome = error.Code switch
            {
                "gateway_timeout" => "timed_out",
                "upstream_unavailable" => context.Response.HasStarted ? "error_event" : "unavailable",
                _ => "refused",
            };
            throw;
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            Stats.Ended(outcome);
        }
    }

    private async Task ForwardCoreAsync(HttpContext context)
    {
        CancellationToken aborted = context.RequestAborted;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        deadline.CancelAfter(TimeSpan.FromSeconds(_options.RequestTimeoutSeconds));
        byte[] body = await ReadBodyAsync(context.Request, deadline.Token).ConfigureAwait(false);

        int attempts = 0;
        HttpResponseMessage response;
        try
        {
            response = await _failover.ExecuteAsync(
                async token =>
                {
                    Uri node = _options.Upstreams[Math.Min(attempts, _options.Upstreams.Count - 1)];
                    attempts++;
                    return await SendAsync(node, context.Request, body, token).ConfigureAwait(false);
                },
                deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!aborted.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
        {
            if (deadline.IsCancellationRequested)
            {
                throw new OpenAiError(504, $"No node answered within the gateway's {_options.RequestTimeoutSeconds:0.#} s.", OpenAiError.Server, code: "gateway_timeout");
            }

            Stats.NoNode();
            throw new OpenAiError(502, $"No node of the mesh answered the gateway in '{_options.Region}' ({attempts} tried: {ex.Message}).", OpenAiError.Server, code: "upstream_unavailable") { RetryAfterSeconds = 1 };
        }

        using (response)
        {
            await RelayAsync(context, response, attempts, deadline).ConfigureAwait(false);
        }
    }

    /// <summary>Whether an attempt's outcome should send the request to the next node: it failed before answering, or a node said it cannot serve.</summary>
    private static bool ShouldMoveOn(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) => outcome switch
    {
        { Exception: HttpRequestException or IOException } => true,
        { Exception: OperationCanceledException } => !cancellationToken.IsCancellationRequested, // the connect timeout, not the deadline
        { Result: { } response } => response.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout,
        _ => false,
    };

    private async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > _options.MaxRequestBytes)
        {
            throw new OpenAiError(413, $"The request body exceeds the gateway's {_options.MaxRequestBytes} bytes.", code: "request_too_large");
        }

        using var buffer = new MemoryStream();
        byte[] chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > _options.MaxRequestBytes)
                {
                    throw new OpenAiError(413, $"The request body exceeds the gateway's {_options.MaxRequestBytes} bytes.", code: "request_too_large");
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return buffer.ToArray();
    }

    /// <summary>One attempt at one node: the client's request with its headers (and the gateway's region when the client named none); a whole (not streamed) answer is read here, so a node failing mid-body counts as not answering.</summary>
    private async Task<HttpResponseMessage> SendAsync(Uri node, HttpRequest request, byte[] body, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(node, request.Path.Value?.TrimStart('/') + request.QueryString.Value));
        if (body.Length > 0 || HttpMethods.IsPost(request.Method))
        {
            message.Content = new ByteArrayContent(body);
        }

        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> header in request.Headers)
        {
            if (HopByHop.Contains(header.Key))
            {
                continue;
            }

            if (!message.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string>)header.Value))
            {
                message.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string>)header.Value);
            }
        }

        if (!request.Headers.ContainsKey(RoutingHeaders.ClientRegion))
        {
            message.Headers.TryAddWithoutValidation(RoutingHeaders.ClientRegion, _options.Region);
        }

        HttpResponseMessage response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!IsEventStream(response))
        {
            try
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        return response;
    }

    /// <summary>Sends the node's answer on: status and headers, then the body as it arrives; a stream the node breaks off ends with an error event.</summary>
    private async Task RelayAsync(HttpContext context, HttpResponseMessage response, int attempts, CancellationTokenSource deadline)
    {
        HttpResponse output = context.Response;
        output.StatusCode = (int)response.StatusCode;
        foreach (KeyValuePair<string, IEnumerable<string>> header in response.Headers.Concat(response.Content.Headers))
        {
            if (!HopByHop.Contains(header.Key))
            {
                output.Headers[header.Key] = header.Value.ToArray();
            }
        }

        output.Headers[AttemptsHeader] = attempts.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!IsEventStream(response))
        {
            await response.Content.CopyToAsync(output.Body, deadline.Token).ConfigureAwait(false); // buffered by SendAsync
            return;
        }

        // Only whole events go on: the part of an event the node has not finished is held back, so that if the node
        // breaks off, the client's last event is whole and the error event follows it.
        byte[] pending = ArrayPool<byte>.Shared.Rent(64 * 1024);
        int held = 0;
        try
        {
            Stream stream = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
            await output.StartAsync(deadline.Token).ConfigureAwait(false);
            while (true)
            {
                if (held == pending.Length)
                {
                    pending = Grow(pending, held);
                }

                int read = await stream.ReadAsync(pending.AsMemory(held), deadline.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                int whole = WholeEventsLength(pending.AsSpan(0, held + read), held);
                held += read;
                if (whole > 0)
                {
                    await output.Body.WriteAsync(pending.AsMemory(0, whole), deadline.Token).ConfigureAwait(false);
                    await output.Body.FlushAsync(deadline.Token).ConfigureAwait(false);
                    pending.AsSpan(whole, held - whole).CopyTo(pending);
                    held -= whole;
                }
            }

            if (held > 0)
            {
                await output.Body.WriteAsync(pending.AsMemory(0, held), deadline.Token).ConfigureAwait(false); // the node ended cleanly mid-event: pass it on as it is
            }
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
        {
            Stats.ErrorEvent();
            _logger.LogWarning("A stream from node {Node} broke off ({Reason}); ending it with an error event", response.RequestMessage?.RequestUri?.Authority, ex.Message);
            throw deadline.IsCancellationRequested
                ? new OpenAiError(504, $"The request exceeded the gateway's {_options.RequestTimeoutSeconds:0.#} s.", OpenAiError.Server, code: "gateway_timeout")
                : new OpenAiError(502, "The stream broke off: the node serving it failed.", OpenAiError.Server, code: "upstream_unavailable");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(pending);
        }
    }

    /// <summary>Length of the longest prefix of <paramref name="bytes"/> that ends with a blank line (an event's end: LF LF, or LF CR LF), searching from just before <paramref name="from"/>; 0 when none.</summary>
    internal static int WholeEventsLength(ReadOnlySpan<byte> bytes, int from)
    {
        for (int i = bytes.Length - 1; i >= Math.Max(1, from - 2); i--)
        {
            if (bytes[i] == '\n' && (bytes[i - 1] == '\n' || (i >= 2 && bytes[i - 1] == '\r' && bytes[i - 2] == '\n')))
            {
                return i + 1;
            }
        }

        return 0;
    }

    /// <summary>A buffer twice as large holding the first <paramref name="count"/> bytes of <paramref name="buffer"/>, which goes back to the pool; an event longer than <see cref="SseReader.MaxLineBytes"/> is refused.</summary>
    private static byte[] Grow(byte[] buffer, int count)
    {
        if (count >= SseReader.MaxLineBytes)
        {
            throw new IOException($"An event from the node exceeds {SseReader.MaxLineBytes} bytes.");
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.AsSpan(0, count).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(buffer);
        return larger;
    }

    private static bool IsEventStream(HttpResponseMessage response) =>
        response.Content.Headers.ContentType?.MediaType?.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
}
