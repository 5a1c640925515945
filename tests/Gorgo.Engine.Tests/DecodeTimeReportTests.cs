using Gorgo.Engine.Model;
using static Gorgo.Engine.Tests.EngineTestSupport;

namespace Gorgo.Engine.Tests;

public class DecodeTimeReportTests
{
    [Fact]
    public void An_idle_engine_that_never_ran_a_request_reports_no_decode_time()
    {
        Assert.Equal(0, new EngineCore(Simple()).State.DecodeMsPerRequest);
    }

    [Fact]
    public void An_idle_engine_reports_a_full_batchs_decode_step_and_a_running_one_its_own_batchs()
    {
        var core = new EngineCore(Simple());
        Assert.Equal(core.Profile.DecodeStepMs(0, core.Profile.MaxRunningRequests), core.State.DecodeStepMs, 9);
        Assert.True(core.State.DecodeStepMs > 0);

        Assert.Equal(EngineRejection.None, core.Submit(Request(1, Tokens(160, 1), maxTokens: 10), 0));
        double step = core.PlanStep(0)!.Value;
        core.CompleteStep(step, null, []);
        Assert.Equal(core.Profile.DecodeStepMs(core.State.RunningTokens, 1), core.State.DecodeStepMs, 9);
    }

    [Fact]
    public void Before_any_request_finishes_only_the_decode_step_is_reported_not_a_forecast_decode_time()
    {
        var core = new EngineCore(Simple());
        Assert.Equal(EngineRejection.None, core.Submit(Request(1, Tokens(160, 1), maxTokens: 10), 0));
        Assert.Equal(EngineRejection.None, core.Submit(Request(2, Tokens(160, 2), maxTokens: 30), 0));
        double step = core.PlanStep(0)!.Value;
        core.CompleteStep(step, null, []);

        Assert.Equal(2, core.State.RunningRequests);
        Assert.Equal(0, core.State.DecodeMsPerRequest);                                        // measured only: routers forecast from the step
        Assert.Equal(core.Profile.DecodeStepMs(core.State.RunningTokens, 2), core.State.DecodeStepMs, 9);
    }

    [Fact]
    public void Finished_requests_report_the_time_from_first_token_to_last()
    {
        var core = new EngineCore(Simple());
        RequestTiming t = VirtualEngineRun.Run(core, [(0, Request(1, Tokens(160, 1), maxTokens: 11))]).Single();

        Assert.Equal(t.FinishedMs - t.FirstTokenMs, core.State.DecodeMsPerRequest, 9);
        Assert.Equal(10 * 5, core.State.DecodeMsPerRequest, 9);  // ten decode steps of 5 ms after the first token
    }

    [Fact]
    public void A_one_token_request_leaves_the_decode_time_unknown_and_does_not_pull_it_down()
    {
        var core = new EngineCore(Simple());
        VirtualEngineRun.Run(core, [(0, Request(1, Tokens(160, 1), maxTokens: 1))]);   // a warm-up or health check: no decode at all
        Assert.Equal(0, core.State.DecodeMsPerRequest);                                  // still unknown: routers keep forecasting from the step

        VirtualEngineRun.Run(core, [(10_000, Request(2, Tokens(160, 2), maxTokens: 11))]);
        VirtualEngineRun.Run(core, [(20_000, Request(3, Tokens(160, 3), maxTokens: 1))]);
        Assert.Equal(10 * 5, core.State.DecodeMsPerRequest, 9);                          // the ten decode steps of request 2 alone
    }

    [Fact]
    public void The_reported_decode_time_follows_recent_requests_as_a_moving_average()
    {
        var core = new EngineCore(Simple());
        VirtualEngineRun.Run(core, [(0, Request(1, Tokens(160, 1), maxTokens: 11))]);
        double first = core.State.DecodeMsPerRequest;
        VirtualEngineRun.Run(core, [(10_000, Request(2, Tokens(160, 2), maxTokens: 101))]);
        double second = core.State.DecodeMsPerRequest;

        Assert.Equal(50, first, 9);
        Assert.InRange(second, first + 1, 500 - 1);               // moved towards the 500 ms request, not replaced by it
        Assert.Equal(50 + (0.1 * (500 - 50)), second, 9);
    }
}
