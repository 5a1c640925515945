using System.Runtime.CompilerServices;
using Gorgo.Replica.Hosting;
using Gorgo.Engine.Model;
using Gorgo.Replica.OpenAi;

namespace Gorgo.Replica.Backends;

/// <summary>A backend that runs requests on an <see cref="EngineHost"/> in this process; its load is exact.</summary>
public sealed class InProcessBackend(EngineHost engine, string model, TimeProvider? time = null) : IReplicaBackend
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The engine.</summary>
    public EngineHost Engine { get; } = engine ?? throw new ArgumentNullException(nameof(engine));

    /// <inheritdoc />
    public string Model { get; } = model ?? throw new ArgumentNullException(nameof(model));

    /// <inheritdoc />
    public async IAsyncEnumerable<BackendChunk> GenerateAsync(BackendRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var engineRequest = new EngineRequest(Engine.NextRequestId(), request.Prompt.Blocks, request.Prompt.MaxTokens);
        EngineRejection rejection = Engine.TrySubmit(engineRequest, out RequestStream? stream, cancellationToken);
        if (rejection != EngineRejection.None)
        {
            throw new BackendException(BackendFailure.Rejected, $"The engine refused the request: {rejection}.", rejection == EngineRejection.Invalid ? 400 : 413);
        }

        await foreach (TokenOutput token in stream!.Tokens.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new BackendChunk(FillerText.Token(token.Index));
        }

        RequestTiming timing = await stream.Completion.ConfigureAwait(false);
        yield return new BackendChunk(null, "length", new OpenAiUsage(timing.PromptTokens, timing.GeneratedTokens, timing.CachedTokens));
    }

    /// <inheritdoc />
    public ValueTask<BackendLoad> GetLoadAsync(CancellationToken cancellationToken)
    {
        EngineState s = Engine.State;
        return ValueTask.FromResult(new BackendLoad(s.RunningRequests, s.WaitingRequests, s.RunningTokens, s.WaitingTokens, s.KvUtilization, s.PrefixQueryTokens, s.PrefixHitTokens, _time.GetUtcNow(), s.RunningPrefillTokens, s.DecodeMsPerRequest > 0 ? s.DecodeMsPerRequest : null, s.DecodeStepMs > 0 ? s.DecodeStepMs : null));
    }

    /// <inheritdoc />
    public ValueTask<bool> CheckHealthAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
