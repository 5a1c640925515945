using Gorgo.Routing.Hashing;

namespace Gorgo.Engine.Model;

/// <summary>A generation request as the engine sees it: prompt blocks and how many tokens to generate.</summary>
/// <param name="Id">Unique id within the engine.</param>
/// <param name="Prompt">Prompt token count and block hashes (the block size must equal the profile's).</param>
/// <param name="MaxTokens">Tokens to generate (generation stops there; the emulator has no end-of-sequence).</param>
public sealed record EngineRequest(long Id, PromptBlocks Prompt, int MaxTokens);

/// <summary>Why a request was refused at submission.</summary>
public enum EngineRejection
{
    /// <summary>Accepted.</summary>
    None,

    /// <summary>Prompt plus output exceeds the profile's context.</summary>
    ContextTooLong,

    /// <summary>The request needs more KV blocks than the whole cache holds.</summary>
    ExceedsKvCapacity,

    /// <summary>MaxTokens is not positive, or the prompt is empty.</summary>
    Invalid,

    /// <summary>A request with the same id is already in the engine.</summary>
    DuplicateId,
}

/// <summary>A token produced for a request at the end of an engine step.</summary>
/// <param name="RequestId">The request.</param>
/// <param name="Index">0 for the first token, then 1, 2, ...</param>
/// <param name="IsLast">Whether generation is complete with this token.</param>
/// <param name="AtMs">When the step that produced it ended.</param>
public readonly record struct TokenOutput(long RequestId, int Index, bool IsLast, double AtMs);

/// <summary>What finished requests experienced, for statistics and usage reports.</summary>
/// <param name="RequestId">The request.</param>
/// <param name="PromptTokens">Prompt length.</param>
/// <param name="CachedTokens">Prompt tokens served from the prefix cache.</param>
/// <param name="GeneratedTokens">Tokens generated.</param>
/// <param name="ArrivedMs">Submission time.</param>
/// <param name="AdmittedMs">When it entered the running batch.</param>
/// <param name="FirstTokenMs">When its first token was produced.</param>
/// <param name="FinishedMs">When its last token was produced.</param>
public readonly record struct RequestTiming(
    long RequestId,
    int PromptTokens,
    int CachedTokens,
    int GeneratedTokens,
    double ArrivedMs,
    double AdmittedMs,
    double FirstTokenMs,
    double FinishedMs)
{
    /// <summary>Time to first token.</summary>
    public double TtftMs => FirstTokenMs - ArrivedMs;

    /// <summary>Mean time between output tokens after the first.</summary>
    public double MeanInterTokenMs => GeneratedTokens > 1 ? (FinishedMs - FirstTokenMs) / (GeneratedTokens - 1) : 0;
}

/// <summary>The engine's true state at one instant: what a load report carries.</summary>
/// <param name="RunningRequests">Requests in the running batch.</param>
/// <param name="WaitingRequests">Requests waiting for admission.</param>
/// <param name="RunningTokens">Prompt tokens of running requests.</param>
/// <param name="WaitingTokens">Prompt tokens of waiting requests.</param>
/// <param name="KvUtilization">Fraction of KV blocks in use by running requests.</param>
/// <param name="CachedBlocks">Blocks cached under a hash.</param>
/// <param name="PrefixQueryTokens">Prompt tokens looked up in the prefix cache so far.</param>
/// <param name="PrefixHitTokens">Of those, tokens found cached.</param>
/// <param name="CacheEventSequence">Sequence number of the last cache event.</param>
/// <param name="RunningPrefillTokens">Prompt tokens of running requests not yet prefilled (the prefill work still ahead of a new request).</param>
/// <param name="DecodeMsPerRequest">How long a request holds its batch slot after its first token, ms: a moving average over finished requests of more than one token; 0 before the first of them finishes.</param>
/// <param name="DecodeStepMs">How long one decode step takes, ms (the gap between a request's tokens): the running batch's predicted step, or while idle a full batch's with no context; 0 when unknown.</param>
public readonly record struct EngineState(
    int RunningRequests,
    int WaitingRequests,
    long RunningTokens,
    long WaitingTokens,
    double KvUtilization,
    int CachedBlocks,
    long PrefixQueryTokens,
    long PrefixHitTokens,
    long CacheEventSequence,
    long RunningPrefillTokens = 0,
    double DecodeMsPerRequest = 0,
    double DecodeStepMs = 0);
