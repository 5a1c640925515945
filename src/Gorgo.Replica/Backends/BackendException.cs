using Gorgo.Replica.OpenAi;

namespace Gorgo.Replica.Backends;

/// <summary>What went wrong with a backend call, in terms a router can act on.</summary>
public enum BackendFailure
{
    /// <summary>The backend rejected the request as invalid (4xx other than 429): the client's fault, do not retry elsewhere.</summary>
    Rejected,

    /// <summary>The backend is overloaded (429/503): try another replica or later.</summary>
    Overloaded,

    /// <summary>The backend could not be reached or broke the connection.</summary>
    Unavailable,

    /// <summary>The backend did not answer in time.</summary>
    Timeout,

    /// <summary>The backend answered with a server error or a malformed response.</summary>
    Failed,
}

/// <summary>A backend call failed; <see cref="Failure"/> says how and <see cref="ToOpenAiError"/> gives the client-facing error.</summary>
public sealed class BackendException(BackendFailure failure, string message, int? status = null, Exception? inner = null, OpenAiError? error = null)
    : Exception(message, inner)
{
    /// <summary>Whether another replica might succeed where this one failed (everything but the client's own mistakes).</summary>
    public bool Retryable => Failure is not BackendFailure.Rejected;

    /// <summary>Whether the failure speaks against the replica's health (transport failures, timeouts, 5xx; never 4xx or 429), for its circuit breaker.</summary>
    public bool CountsAgainstReplica => Failure is BackendFailure.Unavailable or BackendFailure.Timeout or BackendFailure.Failed
        || (Failure is BackendFailure.Overloaded && Status is >= 500);

    /// <summary>How the call failed.</summary>
    public BackendFailure Failure { get; } = failure;

    /// <summary>The backend's HTTP status, when it answered.</summary>
    public int? Status { get; } = status;

    /// <summary>The error to return to the client.</summary>
    public OpenAiError ToOpenAiError() => error ?? Failure switch
    {
        BackendFailure.Rejected => new OpenAiError(Status ?? 400, Message),
        BackendFailure.Overloaded => new OpenAiError(Status == 503 ? 503 : 429, Message, OpenAiError.RateLimit),
        BackendFailure.Timeout => new OpenAiError(504, Message, OpenAiError.Server, code: "backend_timeout"),
        BackendFailure.Unavailable => new OpenAiError(502, Message, OpenAiError.Server, code: "backend_unavailable"),
        _ => new OpenAiError(502, Message, OpenAiError.Server, code: "backend_error"),
    };
}
