using System.Net;
using System.Text;
using Gorgo.Replica.Hosting;

namespace Gorgo.Cli.Tests;

/// <summary>A stand-in OpenTelemetry collector: accepts OTLP/HTTP protobuf trace exports on loopback and decodes the spans' ids, names and service instance.</summary>
internal sealed class OtlpCollector : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<ReceivedSpan> _spans = [];
    private readonly Task _loop;

    public OtlpCollector()
    {
        Endpoint = new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/");
        _listener.Prefixes.Add(Endpoint.ToString());
        _listener.Start();
        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>What <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set to.</summary>
    public Uri Endpoint { get; }

    public IReadOnlyList<ReceivedSpan> Spans
    {
        get
        {
            lock (_spans)
            {
                return [.. _spans];
            }
        }
    }

    public void Dispose()
    {
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }

    private async Task AcceptAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            if (context.Request.Url?.AbsolutePath == "/v1/traces")
            {
                List<ReceivedSpan> spans = Decode(body.ToArray());
                lock (_spans)
                {
                    _spans.AddRange(spans);
                }
            }

            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }

    /// <summary>Decodes an <c>ExportTraceServiceRequest</c>: resource_spans(1) → resource(1) attributes(1), scope_spans(2) → spans(2).</summary>
    private static List<ReceivedSpan> Decode(byte[] message)
    {
        var spans = new List<ReceivedSpan>();
        foreach ((int field, ReadOnlyMemory<byte> resourceSpans) in Fields(message))
        {
            if (field != 1)
            {
                continue;
            }

            string? instance = null;
            var scopes = new List<ReadOnlyMemory<byte>>();
            foreach ((int f, ReadOnlyMemory<byte> value) in Fields(resourceSpans))
            {
                if (f == 1)
                {
                    foreach ((int af, ReadOnlyMemory<byte> attribute) in Fields(value))
                    {
                        if (af == 1 && KeyValue(attribute) is ("service.instance.id", { } id))
                        {
                            instance = id;
                        }
                    }
                }
                else if (f == 2)
                {
                    scopes.Add(value);
                }
            }

            foreach (ReadOnlyMemory<byte> scope in scopes)
            {
                foreach ((int sf, ReadOnlyMemory<byte> span) in Fields(scope))
                {
                    if (sf != 2)
                    {
                        continue;
                    }

                    string trace = "", id = "", parent = "", name = "";
                    foreach ((int pf, ReadOnlyMemory<byte> v) in Fields(span))
                    {
                        switch (pf)
                        {
                            case 1: trace = Convert.ToHexString(v.Span); break;
                            case 2: id = Convert.ToHexString(v.Span); break;
                            case 4: parent = Convert.ToHexString(v.Span); break;
                            case 5: name = Encoding.UTF8.GetString(v.Span); break;
                        }
                    }

                    spans.Add(new ReceivedSpan(trace, id, parent, name, instance ?? ""));
                }
            }
        }

        return spans;
    }

    private static (string Key, string? Value) KeyValue(ReadOnlyMemory<byte> keyValue)
    {
        string key = "";
        string? value = null;
        foreach ((int f, ReadOnlyMemory<byte> v) in Fields(keyValue))
        {
            if (f == 1)
            {
                key = Encoding.UTF8.GetString(v.Span);
            }
            else if (f == 2)
            {
                foreach ((int af, ReadOnlyMemory<byte> any) in Fields(v))
                {
                    if (af == 1)
                    {
                        value = Encoding.UTF8.GetString(any.Span);
                    }
                }
            }
        }

        return (key, value);
    }

    /// <summary>The length-delimited fields of a protobuf message (the others are skipped).</summary>
    private static List<(int Field, ReadOnlyMemory<byte> Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<(int, ReadOnlyMemory<byte>)>();
        ReadOnlySpan<byte> span = message.Span;
        int i = 0;
        while (i < span.Length)
        {
            ulong tag = Varint(span, ref i);
            int field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0: Varint(span, ref i); break;
                case 1: i += 8; break;
                case 5: i += 4; break;
                case 2:
                    int length = (int)Varint(span, ref i);
                    fields.Add((field, message.Slice(i, length)));
                    i += length;
                    break;
                default: throw new InvalidDataException($"Unsupported protobuf wire type in field {field}.");
            }
        }

        return fields;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int i)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = span[i++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}

/// <summary>A span as the stand-in collector received it.</summary>
internal sealed record ReceivedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, string ServiceInstance);
