using System.Diagnostics;

namespace Gorgo.Cli.Tests;

/// <summary>
/// Hosts in Linux network namespaces: each on a shared bridge (the mesh's network, where the silos talk) and on a link
/// of its own to the test's namespace (its users' network), so that one host can be cut off from the others by taking
/// its bridge port down while its users still reach it. Needs root and iproute2; removed again on dispose.
/// </summary>
internal sealed class NamespaceHosts : IDisposable
{
    private readonly string _prefix = "g" + Guid.NewGuid().ToString("N")[..4]; // interface names fit in 15 characters
    private readonly int _subnet = Random.Shared.Next(1, 250);
    private readonly List<string> _namespaces = [];

    private NamespaceHosts()
    {
    }

    /// <summary>Why hosts cannot be made here (not root, no iproute2), or null when they can.</summary>
    public static string? Unavailable { get; } =
        !OperatingSystem.IsLinux() ? "network namespaces need Linux"
        : !Environment.IsPrivilegedProcess ? "network namespaces need root"
        : !File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") ? "network namespaces need iproute2 (ip)"
        : null;

    /// <summary>The namespaces' names, one per host.</summary>
    public IReadOnlyList<string> Namespaces => _namespaces;

    /// <summary>Makes <paramref name="count"/> hosts on one bridge.</summary>
    public static NamespaceHosts Create(int count)
    {
        var hosts = new NamespaceHosts();
        try
        {
            string bridge = hosts._prefix + "br";
            Ip("link", "add", bridge, "type", "bridge");
            Ip("addr", "add", $"10.201.{hosts._subnet}.1/24", "dev", bridge);
            Ip("link", "set", bridge, "up");
            for (int i = 0; i < count; i++)
            {
                hosts.Add(i, bridge);
            }

            return hosts;
        }
        catch
        {
            hosts.Dispose();
            throw;
        }
    }

    /// <summary>Host <paramref name="i"/>'s address on the mesh network (what its silo advertises).</summary>
    public string MeshAddress(int i) => $"10.201.{_subnet}.{i + 2}";

    /// <summary>Host <paramref name="i"/>'s address on its users' link.</summary>
    public string UserAddress(int i) => $"10.202.{_subnet}.{(4 * i) + 2}";

    /// <summary>Cuts host <paramref name="i"/> off the mesh network (its users still reach it).</summary>
    public void CutOff(int i) => Ip("link", "set", $"{_prefix}m{i}", "down");

    /// <summary>Puts host <paramref name="i"/> back on the mesh network.</summary>
    public void Reconnect(int i) => Ip("link", "set", $"{_prefix}m{i}", "up");

    public void Dispose()
    {
        foreach (string ns in _namespaces)
        {
            TryIp("netns", "del", ns); // takes the veth pairs with it
        }

        TryIp("link", "del", _prefix + "br");
    }

    private void Add(int i, string bridge)
    {
        string ns = $"{_prefix}ns{i}";
        Ip("netns", "add", ns);
        _namespaces.Add(ns);
        Ip("-n", ns, "link", "set", "lo", "up");

        // The mesh network: a veth pair from the namespace to a bridge port.
        Ip("link", "add", $"{_prefix}m{i}", "type", "veth", "peer", "name", $"{_prefix}mp{i}");
        Ip("link", "set", $"{_prefix}mp{i}", "netns", ns);
        Ip("link", "set", $"{_prefix}m{i}", "master", bridge);
        Ip("link", "set", $"{_prefix}m{i}", "up");
        Ip("-n", ns, "addr", "add", MeshAddress(i) + "/24", "dev", $"{_prefix}mp{i}");
        Ip("-n", ns, "link", "set", $"{_prefix}mp{i}", "up");

        // The users' link: a /30 of its own between the namespace and this one.
        Ip("link", "add", $"{_prefix}u{i}", "type", "veth", "peer", "name", $"{_prefix}up{i}");
        Ip("link", "set", $"{_prefix}up{i}", "netns", ns);
        Ip("addr", "add", $"10.202.{_subnet}.{(4 * i) + 1}/30", "dev", $"{_prefix}u{i}");
        Ip("link", "set", $"{_prefix}u{i}", "up");
        Ip("-n", ns, "addr", "add", UserAddress(i) + "/30", "dev", $"{_prefix}up{i}");
        Ip("-n", ns, "link", "set", $"{_prefix}up{i}", "up");
    }

    private static void Ip(params string[] arguments)
    {
        (int code, string error) = Run(arguments);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed ({code}): {error}");
        }
    }

    private static void TryIp(params string[] arguments) => Run(arguments);

    private static (int Code, string Error) Run(string[] arguments)
    {
        using Process ip = Process.Start(new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })!;
        string error = ip.StandardError.ReadToEnd();
        ip.StandardOutput.ReadToEnd();
        ip.WaitForExit();
        return (ip.ExitCode, error.Trim());
    }
}

/// <summary>A test that needs network namespaces: skipped where they cannot be made (not root, no iproute2), except in CI (<c>CI=true</c>), where that fails it.</summary>
public sealed class NamespaceFactAttribute : FactAttribute
{
    public NamespaceFactAttribute()
    {
        if (NamespaceHosts.Unavailable is { } reason && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip = $"Cannot make network namespaces: {reason}.";
        }
    }
}
