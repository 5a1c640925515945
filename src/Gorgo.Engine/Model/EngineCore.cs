using Gorgo.Engine.Profiles;

namespace Gorgo.Engine.Model;

/// <summary>
/// One GPU replica as a deterministic state machine: a waiting queue, a running batch with continuous batching and
/// chunked prefill, a prefix KV cache, and step timing from an <see cref="EngineProfile"/>.
/// </summary>
/// <remarks>
/// The core holds no clock: a driver asks <see cref="PlanStep(double)"/> for the next step and its duration, lets that much
/// time pass (real or virtual) and calls <see cref="CompleteStep"/> with the time the step ended. The same code thus
/// runs behind the HTTP replica server (real time) and inside the simulator (virtual time). Not thread-safe.
/// <para>Scheduling per step, like vLLM's: every decoding request gets one token, every prefilling request a chunk of
/// at most <see cref="EngineProfile.PrefillChunkTokens"/>, within <see cref="EngineProfile.MaxBatchedTokens"/>; then
/// waiting requests are admitted first come first served while the batch has room, the budget has tokens left and
/// their KV blocks fit. The first token is produced by the step that finishes a prompt's prefill.</para>
/// </remarks>
public sealed class EngineCore
{
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly Dictionary<long, Sequence> _byId = [];
    private readonly List<Work> _plan = [];
    private readonly StepJitter? _jitter;
    private readonly bool _forecast;
    private readonly List<double> _runEnds = [];
    private bool _stepInFlight;
    private long _waitingTokens;
    private long _runningTokens;
    private long _runningPrefillTokens;
    private double _decodeMsAverage; // what load reports carry: measured over finished requests that decoded (more than one token), as vLLM's and SGLang's histograms give it; 0 until the first of them finishes (routers then forecast from the decode step)

    /// <summary>Weight of the newest finished request in the moving average of decode times (about the last 10 count).</summary>
    private const double DecodeAverageWeight = 0.1;

    /// <summary>Creates an idle engine with an empty cache.</summary>
    /// <param name="profile">Timing and capacity.</param>
    /// <param name="stepJitter">Relative standard deviation of step times (0 = exactly the profile's times).</param>
    /// <param name="seed">Seed of the jitter's random source: equal seeds give equal runs.</param>
    public EngineCore(EngineProfile profile, double stepJitter = 0, int seed = 1)
    {
        Profile = (profile ?? throw new ArgumentNullException(nameof(profile))).EnsureValid();
        if (!double.IsFinite(stepJitter) || stepJitter is < 0 or > 0.5)
        {
            throw new ArgumentOutOfRangeException(nameof(stepJitter), stepJitter, "Step jitter must be between 0 and 0.5.");
        }

        Cache = new KvBlockCache(profile.KvCapacityBlocks);
        _jitter = stepJitter > 0 ? new StepJitter(stepJitter, seed) : null;
    }

    /// <summary>A fork for forecasts: no cache of its own (see <see cref="CopyFrom"/>).</summary>
    private EngineCore(EngineProfile profile)
    {
        Profile = profile;
        Cache = new KvBlockCache(1) { RecordEvents = false };
        _forecast = true;
    }

    /// <summary>Makes this fork a cache-free copy of <paramref name="source"/>'s queue, batch and planned step.</summary>
    private void CopyFrom(EngineCore source)
    {
        _waiting.Clear();
        _running.Clear();
        _byId.Clear();
        _plan.Clear();
        _runEnds.Clear();
        foreach (Sequence s in source._running)
        {
            Sequence copy = s.CopyRunning();
            _running.Add(copy);
            _byId.Add(copy.Id, copy);
        }

        foreach (Sequence s in source._waiting)
        {
            Sequence copy = s.CopyWaiting(source.Cache.MatchPrefix(s.Hashes.Span));
            copy.Node = _waiting.AddLast(copy);
            _byId.Add(copy.Id, copy);
        }

        foreach (Work w in source._plan)
        {
            // Ids are unique among an engine's live sequences, so the fork's index finds each one's copy.
            if (source._byId.TryGetValue(w.Sequence.Id, out Sequence? live) && ReferenceEquals(live, w.Sequence)
                && _byId.TryGetValue(w.Sequence.Id, out Sequence? copy))
            {
                _plan.Add(w with { Sequence = copy });
            }
        }

        _stepInFlight = source._stepInFlight;
        _runEnds.AddRange(source._runEnds);
        _waitingTokens = source._waitingTokens;
        _runningTokens = source._runningTokens;
        _runningPrefillTokens = source._runningPrefillTokens;
    }

    /// <summary>The timing and capacity profile.</summary>
    public EngineProfile Profile { get; }

    /// <summary>The prefix KV cache.</summary>
    public KvBlockCache Cache { get; }

    /// <summary>Prompt tokens looked up in the prefix cache at admission.</summary>
    public long PrefixQueryTokens { get; private set; }

    /// <summary>Prompt tokens found in the prefix cache at admission.</summary>
    public long PrefixHitTokens { get; private set; }

    /// <summary>Whether any request is waiting or running.</summary>
    public bool HasWork => _running.Count > 0 || _waiting.Count > 0;

    /// <summary>The engine's state now.</summary>
    public EngineState State => new(
        _running.Count,
        _waiting.Count,
        _runningTokens,
        _waitingTokens,
        Cache.Utilization,
        Cache.CachedBlocks,
        PrefixQueryTokens,
        PrefixHitTokens,
        Cache.LastEventSequence,
        _runningPrefillTokens,
        _decodeMsAverage,
        DecodeStepMs());

    /// <summary>The decode step a load report carries: the running batch's, or while idle a full batch's with no context (what a burst's first requests will see at least).</summary>
    private double DecodeStepMs() => (_running.Count > 0
        ? Profile.DecodeStepMs(_runningTokens, _running.Count)
        : Profile.DecodeStepMs(0, Profile.MaxRunningRequests)) * _slowdown;

    /// <summary>Prompt tokens of running requests still to prefill, counted afresh (what the kept count must equal).</summary>
    internal long RecountRunningPrefillTokens()
    {
        long tokens = 0;
        foreach (Sequence s in _running)
        {
            tokens += s.PromptTokens - s.Computed;
        }

        return tokens;
    }

    /// <summary>Checks a request against the profile without submitting it.</summary>
    public EngineRejection Check(EngineRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.MaxTokens < 1 || request.Prompt.TokenCount < 1)
        {
            return EngineRejection.Invalid;
        }

        if (request.Prompt.BlockSize != Profile.BlockSize)
        {
            throw new ArgumentException($"The prompt was hashed with {request.Prompt.BlockSize}-token blocks; the engine uses {Profile.BlockSize}.", nameof(request));
        }

        long total = (long)request.Prompt.TokenCount + request.MaxTokens;
        if (total > Profile.MaxContextTokens)
        {
            return EngineRejection.ContextTooLong;
        }

        return BlocksFor(total) > Profile.KvCapacityBlocks ? EngineRejection.ExceedsKvCapacity : EngineRejection.None;
    }

    /// <summary>Queues a request; returns why it was refused, or <see cref="EngineRejection.None"/>.</summary>
    public EngineRejection Submit(EngineRequest request, double nowMs)
    {
        EngineRejection rejection = Check(request);
        if (rejection != EngineRejection.None)
        {
            return rejection;
        }

        if (_byId.ContainsKey(request.Id))
        {
            return EngineRejection.DuplicateId;
        }

        Enqueue(new Sequence(request, nowMs));
        return EngineRejection.None;
    }

    /// <summary>Drops a request, freeing its batch slot and KV blocks; false when unknown or already finished.</summary>
    /// <remarks>
    /// A request in the step under way is dropped when that step completes; its work in it is wasted. In a multi-step
    /// run it is dropped at the run's first step, and the run's later steps keep the times planned with it in the
    /// batch, so drivers that cancel (the live ones) plan single steps.
    /// </remarks>
    public bool Cancel(long requestId)
    {
        if (!_byId.Remove(requestId, out Sequence? s))
        {
            return false;
        }

        s.Cancelled = true;
        if (s.Node is not null)
        {
            _waiting.Remove(s.Node);
            s.Node = null;
            _waitingTokens -= s.PromptTokens;
        }
        else if (!_stepInFlight || !_plan.Exists(w => w.Sequence == s))
        {
            Retire(s);
        }

        return true;
    }

    /// <summary>Plans the step starting at <paramref name="nowMs"/>: returns its duration in ms, or null when there is nothing to do.</summary>
    /// <exception cref="InvalidOperationException">A planned step has not been completed.</exception>
    public double? PlanStep(double nowMs) => PlanStep(nowMs, 1);

    /// <summary>
    /// Plans the step starting at <paramref name="nowMs"/> and, when it only decodes and no waiting request could join
    /// the batch, up to <paramref name="maxSteps"/> − 1 more decode steps of the same batch, as one run that ends with
    /// the step in which the first of them finishes: returns the run's duration in ms, or null when there is nothing to do.
    /// </summary>
    /// <remarks>
    /// A run changes nothing a step-by-step driver would see except that it is told about the steps in one go: the
    /// steps, their times and their tokens are exactly those of single steps (a decode-only batch with nothing to
    /// admit stays the same until a request finishes). Engines with step jitter plan single steps. A driver with no
    /// use for each token (the simulator) plans runs to save events; if a request arrives during a run it calls
    /// <see cref="CutRun"/>, so the request joins at the next step boundary as it would have step by step.
    /// </remarks>
    /// <exception cref="InvalidOperationException">A planned step has not been completed.</exception>
    public double? PlanStep(double nowMs, int maxSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSteps, 1);
        if (_stepInFlight)
        {
            throw new InvalidOperationException("The previous step has not been completed.");
        }

        _plan.Clear();
        _runEnds.Clear();
        int budget = Profile.MaxBatchedTokens;
        foreach (Sequence s in _running)
        {
            if (budget == 0)
            {
                break;
            }

            budget -= Schedule(s, budget);
        }

        while (budget > 0 && _running.Count < Profile.MaxRunningRequests && _waiting.First is { } head && TryAdmit(head.Value, nowMs))
        {
            budget -= Schedule(head.Value, budget);
        }

        if (_plan.Count == 0)
        {
            return null;
        }

        _stepInFlight = true;
        double first = StepDuration(0);
        double end = nowMs + first;
        _runEnds.Add(end);
        for (int step = 1; step < RunLength(maxSteps); step++)
        {
            end += StepDuration(step);
            _runEnds.Add(end);
        }

        if (_runEnds.Count == 1)
        {
            return first;
        }

        RunsPlanned++;
        return end - nowMs;
    }

    /// <summary>How many times longer than the profile says each step takes (1: as profiled), for an injected slow-replica fault; applies from the next planned step.</summary>
    public double Slowdown
    {
        get => _slowdown;
        set => _slowdown = double.IsFinite(value) && value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The slowdown must be a finite number >= 1.");
    }

    private double _slowdown = 1;

    /// <summary>When the request's first token was produced, or null when it has not been yet (or the engine does not hold it).</summary>
    public double? FirstTokenMsOf(long requestId) => _byId.TryGetValue(requestId, out Sequence? s) && s.Generated > 0 ? s.FirstTokenMs : null;

    /// <summary>Runs of more than one step planned so far.</summary>
    public long RunsPlanned { get; private set; }

    /// <summary>Steps in the planned run (1 for a single step, 0 when none is planned).</summary>
    public int PlannedSteps => _stepInFlight ? _runEnds.Count : 0;

    /// <summary>When the planned step or run ends, ms: its start time plus each step's duration in turn (the sum a step-by-step driver forms).</summary>
    public double PlannedEndMs => _stepInFlight ? _runEnds[^1] : throw new InvalidOperationException("No step is planned.");

    /// <summary>
    /// Shortens the planned run to the step under way at <paramref name="nowMs"/>: the run's steps that ended before then
    /// are applied (their tokens appended to <paramref name="tokens"/>, unless null), the step under way stays planned;
    /// returns when it ends. A single planned step is left as it is.
    /// </summary>
    public double CutRun(double nowMs, List<TokenOutput>? tokens)
    {
        if (!_stepInFlight)
        {
            throw new InvalidOperationException("No step is planned.");
        }

        int done = 0;
        while (done < _runEnds.Count - 1 && _runEnds[done] < nowMs)
        {
            done++;
        }

        ApplyDecodeSteps(done, tokens);

        // Steps after the one under way are dropped: they are planned afresh when it ends.
        double end = _runEnds[done];
        _runEnds.Clear();
        _runEnds.Add(end);
        return end;
    }

    /// <summary>Applies the planned step (or run) as ended at <paramref name="nowMs"/>: appends produced tokens (unless <paramref name="tokens"/> is null) and finished requests' timings.</summary>
    /// <remarks>A run's earlier steps end at their planned times, its last at <paramref name="nowMs"/>. A driver with no use for each token (the simulator) passes null.</remarks>
    public void CompleteStep(double nowMs, List<TokenOutput>? tokens, List<RequestTiming> finished)
    {
        ArgumentNullException.ThrowIfNull(finished);
        if (!_stepInFlight)
        {
            throw new InvalidOperationException("No step is planned.");
        }

        ApplyDecodeSteps(_runEnds.Count - 1, tokens);

        _stepInFlight = false;
        _runEnds.Clear();
        foreach (Work work in _plan)
        {
            Sequence s = work.Sequence;
            if (s.Cancelled)
            {
                Retire(s);
                continue;
            }

            if (work.Prefill)
            {
                s.Computed += work.Tokens;
                _runningPrefillTokens -= work.Tokens;
                StoreCompletedBlocks(s);
                if (s.Computed < s.PromptTokens)
                {
                    continue;
                }

                s.FirstTokenMs = nowMs;
            }

            s.Generated++;
            bool last = s.Generated == s.MaxTokens;
            tokens?.Add(new TokenOutput(s.Id, s.Generated - 1, last, nowMs));
            if (last)
            {
                if (s.Generated > 1) // a one-token request (a warm-up, a health check) never decodes: it tells nothing of how long a slot is held
                {
                    double decodeMs = nowMs - s.FirstTokenMs;
                    _decodeMsAverage = _decodeMsAverage > 0 ? _decodeMsAverage + (DecodeAverageWeight * (decodeMs - _decodeMsAverage)) : Math.Max(decodeMs, double.Epsilon);
                }
                finished.Add(new RequestTiming(s.Id, s.PromptTokens, s.CachedTokens, s.Generated, s.ArrivedMs, s.AdmittedMs, s.FirstTokenMs, nowMs));
                _byId.Remove(s.Id);
                Retire(s);
            }
        }

        _plan.Clear();
    }

    /// <summary>
    /// Applies the first <paramref name="steps"/> decode steps of a run, none its last (nobody finishes in them), each
    /// ended at its planned time; with no <paramref name="tokens"/> to report, all in one pass over the batch.
    /// </summary>
    private void ApplyDecodeSteps(int steps, List<TokenOutput>? tokens)
    {
        if (steps <= 0)
        {
            return;
        }

        if (tokens is not null)
        {
            for (int step = 0; step < steps; step++)
            {
                ApplyDecodeStep(_runEnds[step], tokens, 1);
            }
        }
        else
        {
            ApplyDecodeStep(0, null, steps);
        }
    }

    /// <summary>Applies <paramref name="steps"/> decode steps of a run (the tokens of one step ended at <paramref name="atMs"/> when reported).</summary>
    private void ApplyDecodeStep(double atMs, List<TokenOutput>? tokens, int steps)
    {
        for (int i = 0; i < _plan.Count; i++)
        {
            Work work = _plan[i];
            Sequence s = work.Sequence;
            if (s.Cancelled)
            {
                Retire(s);
                continue;
            }

            s.Generated += steps;
            tokens?.Add(new TokenOutput(s.Id, s.Generated - 1, false, atMs));
            _plan[i] = work with { ContextBefore = work.ContextBefore + steps };
        }
    }

    /// <summary>How many steps the plan just made can run as one: 1 unless it only decodes every running request, nothing waiting could join and steps have no jitter (whose draws a cut run would waste).</summary>
    private int RunLength(int maxSteps)
    {
        if (maxSteps == 1 || _jitter is not null || _plan.Count != _running.Count || (_waiting.Count > 0 && _running.Count < Profile.MaxRunningRequests))
        {
            return 1;
        }

        int steps = maxSteps;
        foreach (Work w in _plan)
        {
            if (w.Prefill)
            {
                return 1;
            }

            steps = Math.Min(steps, w.Sequence.MaxTokens - w.Sequence.Generated);
        }

        return Math.Max(steps, 1);
    }

    /// <summary>
    /// Forecasts when <paramref name="request"/>, arriving at <paramref name="arriveAtMs"/>, would produce its first
    /// token if nothing else arrived: a copy of the engine's queue and batch runs the same scheduler and step timing
    /// forward (without jitter) until the request's prefill completes. Prefix hits are those of the cache now, for the
    /// request and for everything already waiting; KV capacity is assumed to suffice. The engine is not changed. The
    /// simulator's clairvoyant oracle uses it to find each request's true best replica.
    /// </summary>
    /// <param name="request">The request (its id must not be in use).</param>
    /// <param name="nowMs">Now.</param>
    /// <param name="arriveAtMs">When the request would reach the engine (not before now).</param>
    /// <param name="stepEndsAtMs">When the step under way ends, if one is (the driver knows).</param>
    /// <param name="horizonMs">Gives up (returns infinity) when the forecast passes this time.</param>
    /// <param name="alsoArriving">Requests already on their way to this engine, with their arrival times (in arrival order).</param>
    /// <returns>The forecast time of the first token, or <see cref="double.PositiveInfinity"/>.</returns>
    public double ForecastFirstTokenMs(EngineRequest request, double nowMs, double arriveAtMs, double? stepEndsAtMs, double horizonMs = double.PositiveInfinity, IReadOnlyList<(EngineRequest Request, double ArriveAtMs)>? alsoArriving = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Check(request) != EngineRejection.None || _byId.ContainsKey(request.Id))
        {
            return double.PositiveInfinity;
        }

        ForecastScratch scratch = t_forecast ??= new ForecastScratch();
        EngineCore fork = scratch.ForkFor(this);
        List<TokenOutput> tokens = scratch.Tokens;
        List<RequestTiming> finished = scratch.Finished;
        tokens.Clear();
        finished.Clear();
        double t = nowMs;
        if (fork._stepInFlight)
        {
            t = Math.Max(nowMs, stepEndsAtMs ?? nowMs);
            fork.CompleteStep(t, tokens, finished);
        }

        // Everything still to arrive, the forecast request among it, in arrival order (ties: those already on the way first).
        List<(EngineRequest Request, double At)> arrivals = scratch.Arrivals;
        arrivals.Clear();
        if (alsoArriving is not null)
        {
            arrivals.AddRange(alsoArriving.Where(a => !_byId.ContainsKey(a.Request.Id)).Select(a => (a.Request, Math.Max(a.ArriveAtMs, nowMs))));
        }

        arrivals.Add((request, Math.Max(arriveAtMs, nowMs)));
        arrivals.Sort((a, b) => a.At.CompareTo(b.At));
        int next = 0;
        bool submitted = false;
        while (t <= horizonMs)
        {
            while (next < arrivals.Count && arrivals[next].At <= t)
            {
                (EngineRequest arriving, double at) = arrivals[next++];
                if (fork.Check(arriving) == EngineRejection.None && !fork._byId.ContainsKey(arriving.Id))
                {
                    fork.Enqueue(new Sequence(arriving, at) { AssumedCachedBlocks = Cache.MatchPrefix(arriving.Prompt.Hashes.Span) });
                }

                submitted |= arriving.Id == request.Id;
            }

            double? step = fork.PlanStep(t);
            if (step is not { } duration)
            {
                if (next >= arrivals.Count)
                {
                    return double.PositiveInfinity; // cannot happen: a submitted request always gets work
                }

                t = arrivals[next].At;
                continue;
            }

            t += duration;
            if (t > horizonMs)
            {
                break;
            }

            tokens.Clear();
            fork.CompleteStep(t, tokens, finished);
            finished.Clear();
            if (submitted && tokens.Exists(x => x.RequestId == request.Id))
            {
                return t;
            }
        }

        return double.PositiveInfinity;
    }

    /// <summary>Per-thread buffers of the forecasts: one fork per profile, refilled from the engine forecast for, and its lists.</summary>
    [ThreadStatic]
    private static ForecastScratch? t_forecast;

    /// <summary>What forecasts reuse instead of allocating a fork and its lists every time.</summary>
    private sealed class ForecastScratch
    {
        private EngineCore? _fork;

        public List<TokenOutput> Tokens { get; } = [];

        public List<RequestTiming> Finished { get; } = [];

        public List<(EngineRequest Request, double At)> Arrivals { get; } = [];

        /// <summary>The fork, made a copy of <paramref name="source"/> (a new one when the profile differs).</summary>
        public EngineCore ForkFor(EngineCore source)
        {
            if (_fork is null || !ReferenceEquals(_fork.Profile, source.Profile))
            {
                _fork = new EngineCore(source.Profile);
            }

            _fork.CopyFrom(source);
            return _fork;
        }
    }

    /// <summary>Moves the cache events since the last drain into <paramref name="destination"/>.</summary>
    public void DrainCacheEvents(List<CacheEvent> destination) => Cache.DrainEvents(destination);

    private static int CeilDiv(long a, int b) => (int)((a + b - 1) / b);

    private int BlocksFor(long tokens) => CeilDiv(tokens, Profile.BlockSize);

    private void Enqueue(Sequence sequence)
    {
        sequence.Node = _waiting.AddLast(sequence);
        _byId.Add(sequence.Id, sequence);
        _waitingTokens += sequence.PromptTokens;
    }

    /// <summary>Adds the sequence's work for this step to the plan; returns the tokens it uses.</summary>
    private int Schedule(Sequence s, int budget)
    {
        if (s.Computed < s.PromptTokens)
        {
            int chunk = Math.Min(Math.Min(s.PromptTokens - s.Computed, Profile.PrefillChunkTokens), budget);
            _plan.Add(new Work(s, chunk, Prefill: true, ContextBefore: s.Computed));
            return chunk;
        }

        _plan.Add(new Work(s, 1, Prefill: false, ContextBefore: s.PromptTokens + s.Generated));
        return 1;
    }

    private bool TryAdmit(Sequence s, double nowMs)
    {
        ReadOnlySpan<ulong> hashes = s.Hashes.Span;
        int matched;
        int needed;
        if (_forecast)
        {
            // A forecast holds no cache: hits are those known when it began, and KV capacity is assumed to suffice.
            matched = s.AssumedCachedBlocks;
            needed = 0;
        }
        else
        {
            matched = Cache.MatchPrefix(hashes);
            Cache.Acquire(hashes[..matched]);
            needed = BlocksFor((long)s.PromptTokens + s.MaxTokens) - matched;
            if (!Cache.TryReserve(needed))
            {
                Cache.Release(hashes[..matched], 0);
                return false;
            }
        }

        _waiting.Remove(s.Node!);
        s.Node = null;
        _waitingTokens -= s.PromptTokens;
        s.HeldBlocks = _forecast ? 0 : matched;
        s.Reservations = needed;

        // An engine always computes at least the prompt's last token, even when every block is cached.
        s.CachedTokens = Math.Min(matched * Profile.BlockSize, s.PromptTokens - 1);
        s.Computed = s.CachedTokens;
        _runningPrefillTokens += s.PromptTokens - s.Computed;
        s.AdmittedMs = nowMs;
        PrefixQueryTokens += s.PromptTokens;
        PrefixHitTokens += s.CachedTokens;
        _running.Add(s);
        _runningTokens += s.PromptTokens;
        return true;
    }

    private void StoreCompletedBlocks(Sequence s)
    {
        if (_forecast)
        {
            return;
        }

        ReadOnlySpan<ulong> hashes = s.Hashes.Span;
        int complete = Math.Min(s.Computed / Profile.BlockSize, hashes.Length);
        while (s.HeldBlocks < complete)
        {
            Cache.Store(hashes[s.HeldBlocks]);
            s.HeldBlocks++;
            s.Reservations--;
        }
    }

    private void Retire(Sequence s)
    {
        if (_running.Remove(s))
        {
            _runningTokens -= s.PromptTokens;
            _runningPrefillTokens -= s.PromptTokens - s.Computed;
            Cache.Release(s.Hashes.Span[..s.HeldBlocks], s.Reservations);
            s.HeldBlocks = 0;
            s.Reservations = 0;
        }
    }

    /// <summary>The planned step's duration, or that of the decode step <paramref name="later"/> steps after it (every context then longer by that many tokens).</summary>
    private double StepDuration(int later)
    {
        double prefillWork = 0;
        double decodeContext = 0;
        int decodeBatch = 0;
        foreach (Work w in _plan)
        {
            if (w.Prefill)
            {
                prefillWork += Profile.PrefillWorkMs(w.Tokens, w.ContextBefore);
            }
            else
            {
                decodeContext += w.ContextBefore + later;
                decodeBatch++;
            }
        }

        bool prefills = decodeBatch < _plan.Count;
        double fixedMs = prefills
            ? Math.Max(Profile.PrefillFixedMs, decodeBatch > 0 ? Profile.DecodeFixedMs : 0)
            : Profile.DecodeFixedMs;
        double decodeWork = decodeBatch > 0 ? Profile.DecodeWorkMs((long)decodeContext, decodeBatch) : 0;
        double duration = (fixedMs + prefillWork + decodeWork) * _slowdown;
        return _jitter is null ? duration : duration * _jitter.Next();
    }

    /// <summary>Multiplicative step-time noise: 1 + σ·N(0, 1), clipped to [0.5, 1.5], from a seeded source.</summary>
    private sealed class StepJitter(double sigma, int seed)
    {
        private readonly Random _random = new(seed);

        public double Next()
        {
            // Box–Muller transform of two uniform draws.
            double u1 = 1.0 - _random.NextDouble();
            double u2 = _random.NextDouble();
            double normal = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            return Math.Clamp(1 + (sigma * normal), 0.5, 1.5);
        }
    }

    private readonly record struct Work(Sequence Sequence, int Tokens, bool Prefill, int ContextBefore);

    private sealed class Sequence(EngineRequest request, double arrivedMs)
    {
        private readonly EngineRequest _request = request;

        public long Id { get; } = request.Id;

        public ReadOnlyMemory<ulong> Hashes { get; } = request.Prompt.Hashes;

        public int PromptTokens { get; } = request.Prompt.TokenCount;

        public int MaxTokens { get; } = request.MaxTokens;

        public double ArrivedMs { get; } = arrivedMs;

        public double AdmittedMs { get; set; }

        public double FirstTokenMs { get; set; }

        public LinkedListNode<Sequence>? Node { get; set; }

        public int CachedTokens { get; set; }

        public int Computed { get; set; }

        public int Generated { get; set; }

        public int HeldBlocks { get; set; }

        public int Reservations { get; set; }

        public bool Cancelled { get; set; }

        /// <summary>In a forecast: the prefix blocks the real cache held when the forecast began.</summary>
        public int AssumedCachedBlocks { get; init; }

        /// <summary>A forecast copy of a running sequence: same progress, no cache blocks held.</summary>
        public Sequence CopyRunning() => new(_request, ArrivedMs)
        {
            AdmittedMs = AdmittedMs,
            FirstTokenMs = FirstTokenMs,
            CachedTokens = CachedTokens,
            Computed = Computed,
            Generated = Generated,
            Cancelled = Cancelled,
        };

        /// <summary>A forecast copy of a waiting sequence that will find <paramref name="cachedBlocks"/> blocks cached.</summary>
        public Sequence CopyWaiting(int cachedBlocks) => new(_request, ArrivedMs) { AssumedCachedBlocks = cachedBlocks };
    }
}
