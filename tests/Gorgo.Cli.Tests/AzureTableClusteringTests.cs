using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>
/// Two <c>gorgo node</c> processes form one mesh through Azure Table clustering on Azurite (installed from npm with the
/// pinned lock file in <c>tests/azurite</c> when missing), gossip, and serve a request across the silos.
/// </summary>
public sealed class AzureTableClusteringTests : IDisposable
{
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private readonly List<Process> _processes = [];
    private readonly string _directory = Directory.CreateTempSubdirectory("gorgo-azurite-test").FullName;

    public void Dispose()
    {
        foreach (Process process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Two_node_processes_form_a_cluster_through_azure_table_storage()
    {
        string azuriteBin = await EnsureAzuriteAsync();
        int tablePort = LoopbackPorts.Free();
        Start(azuriteBin, ["--tableHost", "127.0.0.1", "--tablePort", tablePort.ToString(), "--inMemoryPersistence", "--silent"], "azurite");
        await WaitForPortAsync(tablePort, TimeSpan.FromSeconds(30));

        string connection = $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzuriteKey};TableEndpoint=http://127.0.0.1:{tablePort}/devstoreaccount1;";
        var regions = new Dictionary<string, object>
        {
            ["us-east"] = new { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free() },
            ["eu-central"] = new { IngressUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", SiloPort = LoopbackPorts.Free(), GatewayPort = LoopbackPorts.Free() },
        };
        string config = Path.Combine(_directory, "mesh.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            Regions = regions,
            Rtt = new Dictionary<string, Dictionary<string, double>> { ["us-east"] = new() { ["us-east"] = 1, ["eu-central"] = 90 }, ["eu-central"] = new() { ["eu-central"] = 1 } },
            Replicas = new object[]
            {
                new { Id = "use-1", Region = "us-east", Model = "shared-model", Kind = "emulated", Profile = "h100-8b" },
                new { Id = "euc-1", Region = "eu-central", Model = "eu-only-model", Kind = "emulated", Profile = "h100-8b" },
            },
            Clustering = new { Mode = "azure-table", ConnectionString = connection, ClusterId = "azurite-" + Guid.NewGuid().ToString("N")[..8] },
            Gossip = new { IntervalMs = 100 },
        }));

        string gorgo = Path.Combine(AppContext.BaseDirectory, "gorgo.dll");
        foreach (string region in new[] { "us-east", "eu-central" })
        {
            Start("dotnet", [gorgo, "node", "--region", region, "--config", config], region);
            await WaitForHealthAsync(Url(regions[region]), TimeSpan.FromSeconds(60));
        }

        // Gossip over the cluster the table formed: us-east learns eu-central's model and serves it across the silos.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        HttpStatusCode status = default;
        string? servedBy = null;
        while (DateTime.UtcNow < deadline)
        {
            using HttpResponseMessage response = await http.PostAsync(Url(regions["us-east"]) + "/v1/completions", new StringContent("""{"model": "eu-only-model", "prompt": "hello across silos", "max_tokens": 2}""", Encoding.UTF8, "application/json"));
            status = response.StatusCode;
            if (status == HttpStatusCode.OK)
            {
                servedBy = response.Headers.GetValues("x-gorgo-region").Single();
                break;
            }

            await Task.Delay(250);
        }

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("eu-central", servedBy);
    }

    private static string Url(object endpoint) => (string)endpoint.GetType().GetProperty("IngressUrl")!.GetValue(endpoint)!;

    private void Start(string file, string[] args, string name)
    {
        var info = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Cannot start {name}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
    }

    /// <summary>The azurite-table launcher, installing the pinned package with <c>npm ci</c> first when needed.</summary>
    private static async Task<string> EnsureAzuriteAsync()
    {
        string directory = Path.Combine(CliRunner.RepoRoot, "tests", "azurite");
        string bin = Path.Combine(directory, "node_modules", ".bin", "azurite-table");
        if (File.Exists(bin))
        {
            return bin;
        }

        var info = new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"]) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using Process npm = Process.Start(info) ?? throw new InvalidOperationException("Cannot run npm.");
        Task<string> output = npm.StandardOutput.ReadToEndAsync();
        Task<string> error = npm.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await npm.WaitForExitAsync(timeout.Token);
        Assert.True(npm.ExitCode == 0 && File.Exists(bin), $"npm ci failed ({npm.ExitCode}): {await output}{await error}");
        return bin;
    }

    private static async Task WaitForPortAsync(int port, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task WaitForHealthAsync(string url, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using HttpResponseMessage response = await http.GetAsync(url + "/health");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (TaskCanceledException) when (DateTime.UtcNow < deadline)
            {
            }

            Assert.True(DateTime.UtcNow < deadline, $"{url}/health never answered");
            await Task.Delay(200);
        }
    }
}
