namespace Gorgo.Routing;

/// <summary>Why no replica could be chosen.</summary>
public enum RoutingFailure
{
    /// <summary>No replica serves the requested model.</summary>
    ModelNotFound,

    /// <summary>Replicas serve the model but none is healthy with fresh state.</summary>
    NoHealthyReplica,

    /// <summary>Every healthy replica's queue is full.</summary>
    Saturated,

    /// <summary>The prompt plus output exceeds every healthy replica's context.</summary>
    PromptTooLong,
}

/// <summary>Raised when a request cannot be routed; <see cref="Failure"/> says why (callers map it to 404/503/429/413).</summary>
public sealed class RoutingException(RoutingFailure failure, string message) : Exception(message)
{
    /// <summary>The reason.</summary>
    public RoutingFailure Failure { get; } = failure;
}
