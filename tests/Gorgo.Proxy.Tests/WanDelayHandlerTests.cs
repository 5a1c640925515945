using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Text;

namespace Gorgo.Proxy.Tests;

public class WanDelayHandlerTests
{
    [Fact]
    public async Task Every_piece_of_a_streamed_body_arrives_half_the_rtt_after_it_was_sent()
    {
        var pipe = new Pipe();
        using var inner = new StubHandler(new StreamContent(pipe.Reader.AsStream()));
        using var client = new HttpClient(new WanDelayHandler(200, inner));
        using HttpResponseMessage response = await client.GetAsync("http://replica.test/", HttpCompletionOption.ResponseHeadersRead);
        Stream body = await response.Content.ReadAsStreamAsync();

        var sentAt = Stopwatch.StartNew();
        await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes("data: first\n\n"));
        var buffer = new byte[64];
        int n = await body.ReadAsync(buffer);
        TimeSpan firstLatency = sentAt.Elapsed;

        await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes("data: [DONE]\n\n"));
        await pipe.Writer.CompleteAsync();
        string rest = await new StreamReader(body).ReadToEndAsync();

        Assert.Equal("data: first\n\n", Encoding.UTF8.GetString(buffer, 0, n));
        Assert.Equal("data: [DONE]\n\n", rest);
        Assert.True(firstLatency >= TimeSpan.FromMilliseconds(90), $"the first piece took {firstLatency.TotalMilliseconds:F0} ms, not half the 200 ms RTT");
    }

    [Fact]
    public async Task A_piece_sent_with_the_headers_pays_half_the_rtt_once_not_twice()
    {
        // The backend has its first piece ready when its headers go out (an SSE stream's first token): over a real link
        // it reaches the proxy with the headers, one RTT after the request left, not half an RTT after the headers.
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Encoding.UTF8.GetBytes("data: first\n\n"));
        using var inner = new StubHandler(new StreamContent(pipe.Reader.AsStream()));
        using var client = new HttpClient(new WanDelayHandler(1_000, inner)); // a long RTT: timer and scheduling noise on a loaded machine stays well inside the margin

        var sentAt = Stopwatch.StartNew();
        using HttpResponseMessage response = await client.GetAsync("http://replica.test/", HttpCompletionOption.ResponseHeadersRead);
        TimeSpan headers = sentAt.Elapsed;
        Stream body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        int n = await body.ReadAsync(buffer);
        TimeSpan piece = sentAt.Elapsed;
        await pipe.Writer.CompleteAsync();

        Assert.Equal("data: first\n\n", Encoding.UTF8.GetString(buffer, 0, n));
        Assert.True(headers.TotalMilliseconds >= 990, $"The headers came after {headers.TotalMilliseconds:F0} ms, before one RTT."); // half the RTT out, half back
        // The piece comes with the headers; a second half RTT would add 500 ms. Measured from the headers, not from the
        // start, so a loaded machine's scheduling delays (seen: 400+ ms under the full suite) do not count against it.
        Assert.True((piece - headers).TotalMilliseconds < 250, $"The piece came {(piece - headers).TotalMilliseconds:F0} ms after the headers.");
    }

    [Fact]
    public async Task A_whole_body_read_as_a_string_is_complete()
    {
        using var inner = new StubHandler(new StringContent("vllm:num_requests_running 3\n"));
        using var client = new HttpClient(new WanDelayHandler(20, inner));
        Assert.Equal("vllm:num_requests_running 3\n", await client.GetStringAsync("http://replica.test/metrics"));
    }

    private sealed class StubHandler(HttpContent content) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request });
    }
}
