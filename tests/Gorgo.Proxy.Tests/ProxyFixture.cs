using Gorgo.Engine.Profiles;
using Gorgo.Replica.Server;
using Gorgo.Replica.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy.Tests;

/// <summary>
/// Three emulated replica servers standing in for us-east, eu-central and ap-northeast, behind a proxy in us-east with WAN
/// emulation. The engines are fast; the router is told the paper's 0.094 ms/token so that queued prompts weigh in its estimates.
/// </summary>
public sealed class ProxyFixture : IAsyncLifetime
{
    public const string Model = "proxy-model";

    private readonly List<WebApplication> _replicas = [];
    private WebApplication? _proxy;

    public static EngineProfile Profile { get; } = TestProfiles.Fast("proxy-test", maxRunningRequests: 64);

    public ProxyOptions Options { get; private set; } = null!;

    public ProxyState State { get; private set; } = null!;

    public Uri Address => new(Options.ListenUrl + "/");

    public async Task InitializeAsync()
    {
        var replicas = new List<ProxyReplicaOptions>();
        foreach ((string id, string region) in new[] { ("use-1", "us-east"), ("euc-1", "eu-central"), ("apn-1", "ap-northeast") })
        {
            WebApplication replica = ReplicaServer.Build(new ReplicaServerOptions { Port = LoopbackPorts.Free(), Model = Model }, l => l.ClearProviders(), profile: Profile);
            await replica.StartAsync();
            _replicas.Add(replica);
            replicas.Add(new ProxyReplicaOptions { Id = id, Region = region, Model = Model, Url = replica.Urls.Single(), PrefillMsPerToken = 0.094, MaxContextTokens = 8192 });
        }

        Options = new ProxyOptions
        {
            Region = "us-east",
            ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
            Rtt = new()
            {
                ["us-east"] = new() { ["us-east"] = 5.3, ["eu-central"] = 92.8, ["ap-northeast"] = 178.6 },
                ["eu-central"] = new() { ["eu-central"] = 4.0, ["ap-northeast"] = 231.5 },
                ["ap-northeast"] = new() { ["ap-northeast"] = 3.8 },
            },
            Replicas = replicas,
            Dispatch = new Gorgo.Proxy.Core.ProxyDispatchOptions { MaxRunningPerReplica = 1 },
            WanEmulation = true,
            DefaultMaxTokens = 8,
        };
        _proxy = ProxyHost.Build(Options, l => l.ClearProviders());
        await _proxy.StartAsync();
        State = _proxy.Services.GetRequiredService<ProxyState>();
    }

    public async Task DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.StopAsync();
            await _proxy.DisposeAsync();
        }

        foreach (WebApplication replica in _replicas)
        {
            await replica.StopAsync();
            await replica.DisposeAsync();
        }
    }
}
