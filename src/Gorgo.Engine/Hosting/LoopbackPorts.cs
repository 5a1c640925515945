using System.Net;
using System.Net.Sockets;

namespace Gorgo.Engine.Hosting;

/// <summary>Free loopback ports for servers started on this machine (benchmark deployments, tests).</summary>
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
