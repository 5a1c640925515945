using System.Net;
using System.Net.Sockets;
using Gorgo.Replica.Hosting;

namespace Gorgo.Replica.Tests;

public sealed class LoopbackPortsTests
{
    [Fact]
    public void Ports_handed_out_are_distinct_bindable_and_below_the_ephemeral_range()
    {
        int[] ports = Enumerable.Range(0, 50).Select(_ => LoopbackPorts.Free()).ToArray();

        Assert.Equal(ports.Length, ports.Distinct().Count());
        string range = "/proc/sys/net/ipv4/ip_local_port_range";
        if (File.Exists(range))
        {
            int ephemeralLow = int.Parse(File.ReadAllText(range).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]);
            Assert.All(ports, p => Assert.InRange(p, 1, ephemeralLow - 1));
        }

        var listener = new TcpListener(IPAddress.Loopback, ports[^1]);
        listener.Start();
        listener.Stop();
    }

    [Fact]
    public void A_port_something_listens_on_is_never_handed_out()
    {
        var busy = new List<TcpListener>();
        try
        {
            int[] ports = Enumerable.Range(0, 20).Select(_ => LoopbackPorts.Free()).ToArray();
            foreach (int port in ports)
            {
                var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                busy.Add(listener);
            }

            int[] more = Enumerable.Range(0, 20).Select(_ => LoopbackPorts.Free()).ToArray();
            Assert.Empty(more.Intersect(ports));
        }
        finally
        {
            busy.ForEach(l => l.Stop());
        }
    }
}
