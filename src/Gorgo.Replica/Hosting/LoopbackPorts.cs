using System.Net;
using System.Net.Sockets;

namespace Gorgo.Replica.Hosting;

/// <summary>Free loopback ports for servers started on this machine (benchmark deployments, tests).</summary>
/// <remarks>
/// Ports come from below the kernel's ephemeral range, so an outgoing connection (which takes its local port from that
/// range) cannot grab a port between the moment it is chosen and the moment a server binds it; a port is handed out
/// at most once per process, and the search starts at a random place so concurrent processes rarely meet.
/// </remarks>
public static class LoopbackPorts
{
    private const int LowestPort = 10_000;
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> HandedOut = [];
    private static readonly (int Low, int High) Ephemeral = ReadEphemeralRange();

    /// <summary>A loopback port nothing listens on now, never handed out before by this process.</summary>
    public static int Free()
    {
        int span = Ephemeral.Low - LowestPort;
        if (span < 1_000)
        {
            return Kernel();
        }

        lock (Gate)
        {
            int start = Random.Shared.Next(span);
            for (int i = 0; i < span; i++)
            {
                int port = LowestPort + ((start + i) % span);
                if (!HandedOut.Contains(port) && CanBind(port))
                {
                    HandedOut.Add(port);
                    return port;
                }
            }
        }

        return Kernel();
    }

    private static int Kernel()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static bool CanBind(int port)
    {
        try
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static (int Low, int High) ReadEphemeralRange()
    {
        const string path = "/proc/sys/net/ipv4/ip_local_port_range";
        try
        {
            if (File.Exists(path))
            {
                string[] parts = File.ReadAllText(path).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 2 && int.TryParse(parts[0], out int low) && int.TryParse(parts[1], out int high))
                {
                    return (low, high);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return (49_152, 65_535); // IANA's dynamic range, the default on Windows and macOS
    }
}
