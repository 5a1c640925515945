using System.Net;
using System.Net.Sockets;

namespace Gorgo.Engine.Tests;

internal static class TestPorts
{
    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    public static int Unused()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
