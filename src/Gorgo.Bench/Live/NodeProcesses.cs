using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gorgo.Mesh.Faults;
using Gorgo.Mesh.Options;

namespace Gorgo.Bench.Live;

/// <summary>
/// A mesh whose every region's node is a <c>gorgo node</c> process of its own, so that a fault scenario can kill one
/// abruptly (SIGKILL), stop it (SIGTERM: it drains) and start it again; partitions and replica faults go through each
/// node's <c>POST /admin/faults</c>. Node output goes to one log file per region, in a temporary directory removed
/// at the end unless a node failed to start (its error names the log).
/// </summary>
public sealed class NodeProcesses : IAsyncDisposable
{
    private static readonly JsonSerializerOptions ConfigJson = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    // Faults on different regions run concurrently (FaultDriver), so these are shared between threads.
    private readonly ConcurrentDictionary<string, Process> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task> _exiting = new(StringComparer.Ordinal);
    private readonly (string File, string[] Prefix) _command;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private bool _keepLogs;

    private NodeProcesses(MeshOptions options, string directory, (string File, string[] Prefix) command)
    {
        Options = options;
        Directory = directory;
        ConfigPath = Path.Combine(directory, "mesh.json");
        _command = command;
    }

    /// <summary>The mesh's configuration, as every node reads it.</summary>
    public MeshOptions Options { get; }

    /// <summary>Where the configuration and the nodes' logs are.</summary>
    public string Directory { get; }

    /// <summary>The configuration file the nodes read.</summary>
    public string ConfigPath { get; }

    /// <summary>Whether the node of <paramref name="region"/> is running (not killed, stopped or exited).</summary>
    public bool IsRunning(string region) => _running.TryGetValue(region, out Process? p) && !p.HasExited;

    /// <summary>Writes the configuration and starts every region's node, the primary first, each once the one before is healthy.</summary>
    public static async Task<NodeProcesses> StartAsync(MeshOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.EnsureValid();
        string directory = Path.Combine(Path.GetTempPath(), "gorgo-bench-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory);
        var nodes = new NodeProcesses(options, directory, NodeCommand());
        await File.WriteAllTextAsync(nodes.ConfigPath, JsonSerializer.Serialize(options, ConfigJson), cancellationToken).ConfigureAwait(false);
        try
        {
            string primary = options.Clustering.PrimaryRegion ?? options.Regions.Keys.First();
            foreach (string region in options.Regions.Keys.OrderBy(r => r == primary ? 0 : 1))
            {
                await nodes.StartNodeAsync(region, timeout, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await nodes.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return nodes;
    }

    /// <summary>Starts the node of <paramref name="region"/> (after any earlier process of it has exited) and waits until its <c>/health</c> answers 200.</summary>
    public async Task StartNodeAsync(string region, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_exiting.TryRemove(region, out Task? exiting))
        {
            await exiting.WaitAsync(cancellationToken).ConfigureAwait(false); // killed, or stopped and still draining
        }

        if (IsRunning(region))
        {
            throw new InvalidOperationException($"The node of '{region}' is already running.");
        }

        string log = LogPath(region);
        var info = new ProcessStartInfo(_command.File, [.. _command.Prefix, "node", "--region", region, "--config", ConfigPath])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string key in info.Environment.Keys.Where(k => k.StartsWith("GORGO_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            info.Environment.Remove(key); // the scenario's configuration, not the caller's own deployment settings
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start the node of '{region}' ({_command.File}).");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        var gate = new Lock();
        bool closed = false;
        void Append(string? line)
        {
            lock (gate)
            {
                if (line is not null && !closed)
                {
                    writer.WriteLine(line);
                }
            }
        }

        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _running[region] = process;

        // Exited can come before the last lines are read; WaitForExitAsync also waits for both streams to end.
        _ = process.WaitForExitAsync().ContinueWith(
            _ =>
            {
                lock (gate)
                {
                    closed = true;
                    writer.Dispose();
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        var health = new Uri(Ingress(region), "health");
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                using HttpResponseMessage response = await _http.GetAsync(health, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                _keepLogs = true;
                throw new InvalidOperationException($"The node of '{region}' {(process.HasExited ? $"exited ({process.ExitCode})" : $"was not healthy within {timeout.TotalSeconds:F0} s")}; its log: {log}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Kills the node of <paramref name="region"/> at once (SIGKILL): no drain, no goodbye.</summary>
    public void Kill(string region)
    {
        Process process = Running(region);
        process.Kill();
        _exiting[region] = process.WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM to the node of <paramref name="region"/>: it drains and exits on its own (a restart waits for that).</summary>
    public async Task TerminateAsync(string region)
    {
        Process process = Running(region);
        using Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            ?? throw new InvalidOperationException($"Could not run kill to stop the node of '{region}'.");
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -TERM {process.Id} (the node of '{region}') failed with exit code {kill.ExitCode}.");
        }

        _exiting[region] = process.WaitForExitAsync();
    }

    /// <summary>Applies a fault through the node's <c>POST /admin/faults</c>; throws when the node refuses it.</summary>
    public async Task InjectAsync(string region, NodeFaultRequest fault, CancellationToken cancellationToken)
    {
        using HttpResponseMessage response = await _http.PostAsJsonAsync(new Uri(Ingress(region), "admin/faults"), fault, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The node of '{region}' refused the fault {fault.Kind} {fault.Target}: {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
        }
    }

    /// <summary>Waits until every running node knows every other running region (its <c>/health</c>), or the timeout passes; returns whether they do.</summary>
    public async Task<bool> WaitUntilConvergedAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            string[] up = _running.Keys.Where(IsRunning).ToArray();
            bool all = true;
            foreach (string region in up)
            {
                all &= (await KnownRegionsAsync(region, cancellationToken).ConfigureAwait(false)).Count >= up.Length - 1;
            }

            if (all)
            {
                return true;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>The ingress URL of a region's node.</summary>
    public Uri Ingress(string region) => new(Options.Regions[region].IngressUrl + "/");

    /// <summary>The log file of a region's node.</summary>
    public string LogPath(string region) => Path.Combine(Directory, region + ".log");

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (Process process in _running.Values)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                // Already gone, or not ours to wait for any longer.
            }

            process.Dispose();
        }

        _running.Clear();
        _http.Dispose();
        if (!_keepLogs)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // A log still held open by an exiting process: the temporary directory is left behind.
            }
        }
    }

    /// <summary>
    /// How to run <c>gorgo node</c>: this executable when it is <c>gorgo</c> (apphost or <c>dotnet gorgo.dll</c>),
    /// else a <c>gorgo.dll</c> beside this assembly (tests).
    /// </summary>
    internal static (string File, string[] Prefix) NodeCommand()
    {
        string? process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == "gorgo")
        {
            return (process, []);
        }

        string? entry = Assembly.GetEntryAssembly()?.Location;
        if (!string.IsNullOrEmpty(entry) && Path.GetFileName(entry) == "gorgo.dll")
        {
            return ("dotnet", [entry]);
        }

        string beside = Path.Combine(AppContext.BaseDirectory, "gorgo.dll");
        return File.Exists(beside)
            ? ("dotnet", [beside])
            : throw new InvalidOperationException($"A fault scenario runs each region's node as a 'gorgo node' process, but no gorgo executable or gorgo.dll was found (looked beside {AppContext.BaseDirectory}).");
    }

    private async Task<IReadOnlyList<string>> KnownRegionsAsync(string region, CancellationToken cancellationToken)
    {
        try
        {
            using HttpResponseMessage response = await _http.GetAsync(new Uri(Ingress(region), "health"), cancellationToken).ConfigureAwait(false);
            using JsonDocument json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            return json.RootElement.GetProperty("knownRegions").EnumerateArray().Select(e => e.GetString()!).ToArray();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException && !cancellationToken.IsCancellationRequested)
        {
            return [];
        }
    }

    private Process Running(string region) =>
        IsRunning(region) ? _running[region] : throw new InvalidOperationException($"The node of '{region}' is not running.");
}
