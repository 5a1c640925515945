using Gorgo.Engine.Model;
using Gorgo.Engine.Profiles;
using static Gorgo.Engine.Tests.EngineTestSupport;

namespace Gorgo.Engine.Tests;

/// <summary>Decode runs: several decode steps planned as one, for drivers (the simulator) that need no event per token.</summary>
public class EngineRunTests
{
    /// <summary><see cref="EngineTestSupport.Simple"/> with decode steps that cost more as contexts grow, so every step of a run differs.</summary>
    private static EngineProfile Growing(int maxRunning = 8, int kvBlocks = 4_096) =>
        Simple(maxRunning, kvBlocks) with { DecodeMsPerContextToken = 0.001, DecodeMsPerSequence = 0.3 };

    [Fact]
    public void A_decode_only_batch_with_nothing_waiting_is_planned_as_one_run_up_to_the_first_finisher()
    {
        var run = new EngineCore(Growing());
        var single = new EngineCore(Growing());
        foreach (EngineCore core in new[] { run, single })
        {
            core.Submit(Request(1, Tokens(200, 1), maxTokens: 10), 0);
            core.Submit(Request(2, Tokens(300, 2), maxTokens: 6), 0);
            core.CompleteStep(core.PlanStep(0)!.Value, [], []); // the prefill step: one token each
        }

        double start = 5 + (0.1 * 500);
        double duration = run.PlanStep(start, maxSteps: 100)!.Value;

        Assert.Equal(5, run.PlannedSteps); // request 2 has 5 tokens to go
        double end = start;
        var finished = new List<RequestTiming>();
        for (int step = 0; step < 5; step++)
        {
            end += single.PlanStep(end)!.Value;
            single.CompleteStep(end, [], finished);
        }

        Assert.Equal(end, run.PlannedEndMs);
        Assert.Equal(end - start, duration, 9);
        var runFinished = new List<RequestTiming>();
        run.CompleteStep(run.PlannedEndMs, [], runFinished);
        Assert.Equal(finished, runFinished);
        Assert.Equal(2, Assert.Single(runFinished).RequestId);
    }

    [Fact]
    public void A_step_that_prefills_is_never_part_of_a_run()
    {
        var core = new EngineCore(Growing());
        core.Submit(Request(1, Tokens(200, 1), maxTokens: 10), 0);

        core.PlanStep(0, maxSteps: 100);

        Assert.Equal(1, core.PlannedSteps);
    }

    [Fact]
    public void A_request_waiting_for_a_batch_slot_does_not_stop_a_run_but_one_waiting_for_kv_blocks_does()
    {
        var slotBound = new EngineCore(Growing(maxRunning: 1));
        var kvBound = new EngineCore(Growing(maxRunning: 2, kvBlocks: 20)); // request 1 holds 14 of the 20 blocks
        foreach (EngineCore core in new[] { slotBound, kvBound })
        {
            core.Submit(Request(1, Tokens(200, 1), maxTokens: 10), 0);
            core.CompleteStep(core.PlanStep(0)!.Value, [], []);
            core.Submit(Request(2, Tokens(200, 2)), 30);
            core.PlanStep(30, maxSteps: 100);
            Assert.Equal(1, core.State.WaitingRequests);
        }

        Assert.Equal(9, slotBound.PlannedSteps); // nothing can change until request 1 finishes
        Assert.Equal(1, kvBound.PlannedSteps);   // admission is retried every step, as step by step
    }

    [Fact]
    public void Cutting_a_run_applies_the_steps_that_ended_and_keeps_the_one_under_way()
    {
        var core = new EngineCore(Growing());
        core.Submit(Request(1, Tokens(200, 1), maxTokens: 10), 0);
        double start = core.PlanStep(0)!.Value;
        core.CompleteStep(start, [], []);
        core.PlanStep(start, maxSteps: 100);
        Assert.Equal(9, core.PlannedSteps);
        double runEnd = core.PlannedEndMs;

        var tokens = new List<TokenOutput>();
        double stepEnd = core.CutRun(start + ((runEnd - start) / 2), tokens);

        Assert.Equal(1, core.PlannedSteps);
        Assert.Equal(stepEnd, core.PlannedEndMs);
        Assert.InRange(stepEnd, start + ((runEnd - start) / 2), runEnd);
        Assert.Equal(4, tokens.Count); // steps of about 5.5 ms each: four ended in the first half
        Assert.Equal([1, 2, 3, 4], tokens.Select(t => t.Index));
        Assert.All(tokens, t => Assert.True(t.AtMs < stepEnd));
    }

    [Fact]
    public void An_engine_with_step_jitter_plans_single_steps()
    {
        var core = new EngineCore(Growing(), stepJitter: 0.1, seed: 3);
        core.Submit(Request(1, Tokens(200, 1), maxTokens: 10), 0);
        core.CompleteStep(core.PlanStep(0)!.Value, [], []);

        core.PlanStep(100, maxSteps: 100);

        Assert.Equal(1, core.PlannedSteps);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Runs_cut_at_arrivals_give_exactly_the_timings_and_tokens_of_single_steps(int seed)
    {
        var random = new Random(seed);
        int[] shared = Tokens(160, seed);
        double at = 0;
        var arrivals = new List<(double, EngineRequest)>();
        for (int i = 0; i < 200; i++)
        {
            at += -Math.Log(1 - random.NextDouble()) * 40; // about 25 requests/s against 4 slots
            int[] prompt = random.Next(2) == 0 ? [.. shared, .. Tokens(random.Next(1, 300), (seed * 1_000) + i)] : Tokens(random.Next(1, 600), (seed * 1_000) + i);
            arrivals.Add((at, Request(i, prompt, maxTokens: random.Next(1, 40))));
        }

        var singleTokens = new List<TokenOutput>();
        var runTokens = new List<TokenOutput>();
        IReadOnlyList<RequestTiming> single = VirtualEngineRun.Run(new EngineCore(Growing(maxRunning: 4, kvBlocks: 200)), arrivals, singleTokens);
        var runCore = new EngineCore(Growing(maxRunning: 4, kvBlocks: 200));
        IReadOnlyList<RequestTiming> runs = VirtualEngineRun.Run(runCore, arrivals, runTokens, maxStepsPerRun: int.MaxValue);

        Assert.Equal(200, single.Count);
        Assert.True(runCore.RunsPlanned > 50, $"only {runCore.RunsPlanned} runs were planned");
        Assert.Equal(single, runs);
        Assert.Equal(singleTokens, runTokens);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void Runs_applied_without_their_tokens_give_the_timings_and_state_of_single_steps(int seed)
    {
        var random = new Random(seed);
        double at = 0;
        var arrivals = new List<(double, EngineRequest)>();
        for (int i = 0; i < 150; i++)
        {
            at += -Math.Log(1 - random.NextDouble()) * 30;
            arrivals.Add((at, Request(i, Tokens(random.Next(1, 500), (seed * 1_000) + i), maxTokens: random.Next(1, 60))));
        }

        var singleCore = new EngineCore(Growing(maxRunning: 4, kvBlocks: 200));
        var bareCore = new EngineCore(Growing(maxRunning: 4, kvBlocks: 200));
        IReadOnlyList<RequestTiming> single = VirtualEngineRun.Run(singleCore, arrivals, []);
        IReadOnlyList<RequestTiming> bare = VirtualEngineRun.Run(bareCore, arrivals, tokens: null, maxStepsPerRun: int.MaxValue);

        Assert.True(bareCore.RunsPlanned > 30, $"only {bareCore.RunsPlanned} runs were planned");
        Assert.Equal(single, bare);
        Assert.Equal(singleCore.State, bareCore.State);
    }

    [Fact]
    public void The_kept_count_of_tokens_left_to_prefill_always_equals_a_recount()
    {
        var random = new Random(7);
        var core = new EngineCore(Growing(maxRunning: 4, kvBlocks: 200) with { PrefillChunkTokens = 64, MaxBatchedTokens = 96 });
        double now = 0;
        long next = 0;
        for (int step = 0; step < 3_000; step++)
        {
            if (random.Next(3) == 0)
            {
                core.Submit(Request(next++, Tokens(random.Next(1, 400), step), maxTokens: random.Next(1, 20)), now);
            }

            if (next > 0 && random.Next(10) == 0)
            {
                core.Cancel(random.NextInt64(next)); // running, waiting or long gone
            }

            if (core.PlanStep(now, maxSteps: random.Next(1, 4)) is { } duration)
            {
                if (random.Next(10) == 0)
                {
                    core.Cancel(random.NextInt64(next)); // during the step: dropped when it completes
                }

                now += duration;
                core.CompleteStep(now, [], []);
            }
            else
            {
                now += 10;
            }

            Assert.Equal(core.RecountRunningPrefillTokens(), core.State.RunningPrefillTokens);
        }
    }
}
