using System.Net;
using System.Net.Sockets;

namespace Gorgo.TestSupport;

/// <summary>Free loopback ports for servers started by tests and benchmarks.</summary>
public static class LoopbackPorts
{
    /// <summary>A loopback port nothing listens on now (bound, then released).</summary>
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
