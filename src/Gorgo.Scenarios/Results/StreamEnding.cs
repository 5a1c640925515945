namespace Gorgo.Scenarios.Results;

/// <summary>How a response ended, as the client saw it.</summary>
public enum StreamEnding
{
    /// <summary>Finished: the stream ended with <c>[DONE]</c> (or the whole answer arrived).</summary>
    Done,

    /// <summary>The stream ended with an OpenAI-style error event: a failure the client was told about.</summary>
    ErrorEvent,

    /// <summary>The stream broke off with neither <c>[DONE]</c> nor an error event: a lost request.</summary>
    Cut,

    /// <summary>Answered with an HTTP error status before any stream (refused or failed before its first byte).</summary>
    Refused,

    /// <summary>No response at all (the connection failed before a status arrived).</summary>
    NoResponse,

    /// <summary>Still unanswered or unfinished at its deadline: a lost request.</summary>
    TimedOut,
}

/// <summary>Names of <see cref="StreamEnding"/> values in results files.</summary>
public static class StreamEndings
{
    /// <summary>The snake-case name, e.g. <c>error_event</c>.</summary>
    public static string Name(this StreamEnding ending) => ending switch
    {
        StreamEnding.Done => "done",
        StreamEnding.ErrorEvent => "error_event",
        StreamEnding.Cut => "cut",
        StreamEnding.Refused => "refused",
        StreamEnding.NoResponse => "no_response",
        _ => "timed_out",
    };

    /// <summary>Whether the client was left without an answer or an error: the stream was cut or hung past its deadline.</summary>
    public static bool IsLost(this StreamEnding ending) => ending is StreamEnding.Cut or StreamEnding.TimedOut;
}
