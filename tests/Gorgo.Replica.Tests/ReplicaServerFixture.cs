using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Replica.Tests;

/// <summary>One emulated replica on a free loopback port, shared by a test class.</summary>
public sealed class ReplicaServerFixture : IAsyncLifetime
{
    public const string Model = "test-model";

    private WebApplication? _app;

    /// <summary>A fast profile (see <see cref="TestProfiles.Fast"/>) with 16 running requests.</summary>
    public static EngineProfile Profile { get; } = TestProfiles.Fast("fast-test", maxRunningRequests: 16);

    public Uri BaseAddress { get; private set; } = null!;

    public EmulatedReplica Replica { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync()
    {
        _app = ReplicaServer.Build(
            new ReplicaServerOptions { Port = 0, Model = Model, DefaultMaxTokens = 8 },
            logging => logging.ClearProviders(),
            profile: Profile);
        await _app.StartAsync();
        BaseAddress = new Uri(_app.Urls.Single().Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal) + "/");
        Http.BaseAddress = BaseAddress;
        Replica = _app.Services.GetRequiredService<EmulatedReplica>();
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>Waits until the engine has no running or waiting request (or fails after 5 s).</summary>
    public async Task WaitUntilIdleAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Replica.Engine.State is { RunningRequests: > 0 } or { WaitingRequests: > 0 })
        {
            Assert.True(DateTime.UtcNow < deadline, $"the engine is still busy: {Replica.Engine.State}");
            await Task.Delay(20);
        }
    }
}
