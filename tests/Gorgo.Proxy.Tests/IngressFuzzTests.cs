using Gorgo.Replica.Hosting;
using Gorgo.Replica.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy.Tests;

/// <summary>One emulated replica behind a proxy, without WAN emulation, so that fuzzed requests that are valid run quickly.</summary>
public sealed class PlainProxyFixture : IAsyncLifetime
{
    public const string Model = "fuzz-model";

    private WebApplication? _replica;
    private WebApplication? _proxy;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync()
    {
        _replica = ReplicaServer.Build(new ReplicaServerOptions { Port = LoopbackPorts.Free(), Model = Model, DefaultMaxTokens = 4 }, l => l.ClearProviders(), profile: TestProfiles.Fast("fuzz", maxRunningRequests: 64));
        await _replica.StartAsync();
        var options = new ProxyOptions
        {
            Region = "us-east",
            ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}",
            Rtt = new() { ["us-east"] = new() { ["us-east"] = 1.0 } },
            Replicas = [new ProxyReplicaOptions { Id = "r1", Region = "us-east", Model = Model, Url = _replica.Urls.Single(), MaxContextTokens = 8192 }],
            Dispatch = new Gorgo.Proxy.Core.ProxyDispatchOptions { MaxRunningPerReplica = 64 },
            DefaultMaxTokens = 4,
        };
        _proxy = ProxyHost.Build(options, l => l.ClearProviders());
        await _proxy.StartAsync();
        Http.BaseAddress = new Uri(options.ListenUrl + "/");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Apps.StopAllAsync(_proxy, _replica);
    }
}

public class IngressFuzzTests(PlainProxyFixture proxy) : IClassFixture<PlainProxyFixture>
{
    [Fact]
    public async Task Thousands_of_mutated_bodies_at_the_router_get_no_server_error_and_openai_shaped_errors()
    {
        // The front door is the mesh ingress's and the proxy's; valid bodies go on to the replica over HTTP with the
        // client's forwarded fields, so the replica's parser sees them too.
        var fuzzer = new RequestFuzzer(PlainProxyFixture.Model, seed: 2);
        IReadOnlyList<string> failures = await RequestFuzzer.RunAsync(proxy.Http, fuzzer.Generate(2_000));

        Assert.True(failures.Count == 0, $"{failures.Count} bad answers, the first: {failures.FirstOrDefault()}");
    }
}
