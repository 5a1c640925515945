using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Gorgo.Replica.Hosting;
using Gorgo.Serving.Gateway;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gorgo.Proxy.Tests;

/// <summary>
/// <c>gorgo gateway</c> in front of stand-in nodes on loopback: it moves a request on to the next node when one does
/// not answer, never once a node has answered, and ends a stream whose node breaks off with an error event and
/// <c>[DONE]</c> instead of a cut connection.
/// </summary>
public sealed class GatewayTests : IAsyncLifetime
{
    private const string Body = """{"model":"m","prompt":"hi","max_tokens":3,"stream":true}""";
    private readonly List<WebApplication> _apps = [];
    private readonly HttpClient _client = new() { Timeout = TimeSpan.FromSeconds(30) };
    private int _streamed;

    /// <inheritdoc />
    public Task InitializeAsync() => Task.CompletedTask;

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        _client.Dispose();
        _apps.Reverse();
        await Apps.StopAllAsync([.. _apps]);
    }

    [Fact]
    public async Task A_node_that_refuses_the_connection_or_says_it_is_draining_is_passed_over_for_the_next()
    {
        string refusing = $"http://127.0.0.1:{LoopbackPorts.Free()}/"; // nothing listens there
        string draining = await NodeAsync(async context =>
        {
            context.Response.StatusCode = 503;
            context.Response.Headers.RetryAfter = "1";
            await context.Response.WriteAsync("""{"error":{"message":"draining","type":"server_error","param":null,"code":"node_draining"}}""");
        });
        string healthy = await NodeAsync(StreamAsync);
        (string gateway, GatewayForwarder forwarder) = await GatewayAsync(refusing, draining, healthy);

        using HttpResponseMessage response = await PostAsync(gateway);
        string text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("3", response.Headers.GetValues(GatewayForwarder.AttemptsHeader).Single());
        Assert.Equal("eu-central", response.Headers.GetValues("x-gorgo-region").Single()); // the node's own headers come through
        Assert.Equal(["a", "b", "c", "[DONE]"], Events(text).Select(e => e == "[DONE]" ? e : JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!));
        Assert.Equal(1, _streamed);
        Assert.Equal((1L, 2L, 0L, 0L), (forwarder.Stats.Requests, forwarder.Stats.FailedOver, forwarder.Stats.Unavailable, forwarder.Stats.EndedWithErrorEvent));

        // The same shows in the gateway's /metrics (the meter is the process's, so other tests' gateways add to it).
        string metrics = await _client.GetStringAsync(gateway + "metrics");
        Assert.Contains("# TYPE gorgo_gateway_requests_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("# TYPE gorgo_gateway_failovers_total counter", metrics, StringComparison.Ordinal);
        Assert.Matches(@"gorgo_gateway_requests_total\{[^}]*outcome=""answered""[^}]*region=""us-east""[^}]*\} [1-9]", metrics);
        Assert.Matches(@"gorgo_gateway_failovers_total\{[^}]*region=""us-east""[^}]*\} [1-9]", metrics);
    }

    [Fact]
    public async Task A_stream_whose_node_breaks_off_after_answering_ends_with_an_error_event_and_done_and_is_not_sent_elsewhere()
    {
        string breaking = await NodeAsync(async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: {\"choices\":[{\"index\":0,\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: {\"choi");
            await context.Response.Body.FlushAsync();
            await Task.Delay(100);
            context.Abort(); // as when the node's process is killed
        });
        string healthy = await NodeAsync(StreamAsync);
        (string gateway, GatewayForwarder forwarder) = await GatewayAsync(breaking, healthy);

        using HttpResponseMessage response = await PostAsync(gateway);
        string text = await response.Content.ReadAsStringAsync(); // no exception: the stream ended, it was not cut

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        List<string> events = Events(text);
        Assert.Equal(3, events.Count); // the whole event, then the error and [DONE]: the half-sent event is held back
        Assert.Equal("a", JsonDocument.Parse(events[0]).RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("[DONE]", events[^1]);
        JsonElement error = JsonDocument.Parse(events[^2]).RootElement.GetProperty("error");
        Assert.Equal("upstream_unavailable", error.GetProperty("code").GetString());
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.Equal(0, _streamed); // a token had been sent: the request is not run twice
        Assert.Equal((1L, 0L, 1L), (forwarder.Stats.Requests, forwarder.Stats.FailedOver, forwarder.Stats.EndedWithErrorEvent));
    }

    [Fact]
    public async Task A_client_error_from_a_node_is_passed_through_without_trying_another_node()
    {
        string rejecting = await NodeAsync(async context =>
        {
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"error":{"message":"max_tokens must be positive","type":"invalid_request_error","param":"max_tokens","code":null}}""");
        });
        string healthy = await NodeAsync(StreamAsync);
        (string gateway, GatewayForwarder forwarder) = await GatewayAsync(rejecting, healthy);

        using HttpResponseMessage response = await PostAsync(gateway);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("max_tokens", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(0, _streamed);
        Assert.Equal(0, forwarder.Stats.FailedOver);
    }

    [Fact]
    public async Task When_no_node_answers_the_client_gets_an_openai_shaped_502_with_retry_after()
    {
        (string gateway, GatewayForwarder forwarder) = await GatewayAsync($"http://127.0.0.1:{LoopbackPorts.Free()}/", $"http://127.0.0.1:{LoopbackPorts.Free()}/");

        using HttpResponseMessage response = await PostAsync(gateway);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("upstream_unavailable", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal((1L, 1L), (forwarder.Stats.FailedOver, forwarder.Stats.Unavailable));
    }

    [Fact]
    public async Task Over_https_the_gateway_serves_its_certificate_and_forwards_as_over_http()
    {
        string directory = Directory.CreateTempSubdirectory("gorgo-tls").FullName;
        try
        {
            // A self-signed certificate for 127.0.0.1, its key in a file of its own.
            using RSA key = RSA.Create(2048);
            var request = new CertificateRequest("CN=gorgo gateway test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
            string certificatePath = Path.Combine(directory, "gateway.crt");
            string keyPath = Path.Combine(directory, "gateway.key");
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem());
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

            string node = await NodeAsync(StreamAsync);
            (string gateway, _) = await GatewayAsync(new GatewayOptions
            {
                Region = "us-east",
                ListenUrl = $"https://127.0.0.1:{LoopbackPorts.Free()}",
                TlsCertificatePath = certificatePath,
                TlsKeyPath = keyPath,
                Upstreams = [new Uri(node)],
            });
            Assert.StartsWith("https://", gateway, StringComparison.Ordinal);

            string? presented = null;
            using var handler = new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = (_, served, _, _) => (presented = served?.Thumbprint) == certificate.Thumbprint,
            };
            using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
            using HttpResponseMessage response = await client.PostAsync(gateway + "v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"));

            Assert.Equal(certificate.Thumbprint, presented);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(["a", "b", "c", "[DONE]"], Events(await response.Content.ReadAsStringAsync()).Select(e => e == "[DONE]" ? e : JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Tls_settings_that_do_not_fit_the_listen_url_are_refused_with_the_settings_named()
    {
        var https = Assert.ThrowsAny<ArgumentException>(() => new GatewayOptions { Region = "r", ListenUrl = "https://127.0.0.1:8443", Upstreams = [new Uri("http://127.0.0.1:8080/")] }.EnsureValid());
        Assert.Contains("TlsCertificatePath", https.Message);

        var http = Assert.ThrowsAny<ArgumentException>(() => new GatewayOptions { Region = "r", TlsCertificatePath = "/no/such.crt", Upstreams = [new Uri("http://127.0.0.1:8080/")] }.EnsureValid());
        Assert.Contains("need an https ListenUrl", http.Message);
        Assert.Contains("'/no/such.crt' does not exist", http.Message);
    }

    [Fact]
    public void Options_without_a_region_or_nodes_are_refused_with_the_settings_named()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new GatewayOptions { Upstreams = [], RequestTimeoutSeconds = 0 }.EnsureValid());

        Assert.Contains("Region", error.Message);
        Assert.Contains("Upstreams", error.Message);
        Assert.Contains("RequestTimeoutSeconds", error.Message);
    }

    /// <summary>A healthy node: headers with the first token, three tokens, a finish and <c>[DONE]</c>.</summary>
    private async Task StreamAsync(HttpContext context)
    {
        Interlocked.Increment(ref _streamed);
        Assert.Equal("us-east", context.Request.Headers["x-gorgo-client-region"].ToString()); // the gateway's region, as the client named none
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers["x-gorgo-region"] = "eu-central";
        foreach (string token in new[] { "a", "b", "c" })
        {
            await context.Response.WriteAsync($"data: {{\"choices\":[{{\"index\":0,\"text\":\"{token}\",\"finish_reason\":{(token == "c" ? "\"length\"" : "null")}}}]}}\n\n");
            await context.Response.Body.FlushAsync();
        }

        await context.Response.WriteAsync("data: [DONE]\n\n");
    }

    private async Task<string> NodeAsync(RequestDelegate completions)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{LoopbackPorts.Free()}");
        WebApplication app = builder.Build();
        app.MapPost("/v1/completions", completions);
        _apps.Add(app);
        await app.StartAsync();
        return app.Urls.Single() + "/";
    }

    private Task<(string Url, GatewayForwarder Forwarder)> GatewayAsync(params string[] nodes) =>
        GatewayAsync(new GatewayOptions { Region = "us-east", ListenUrl = $"http://127.0.0.1:{LoopbackPorts.Free()}", Upstreams = nodes.Select(n => new Uri(n)).ToArray(), ConnectTimeoutMs = 1_000 });

    private async Task<(string Url, GatewayForwarder Forwarder)> GatewayAsync(GatewayOptions options)
    {
        WebApplication app = GatewayHost.Build(options, logging => logging.ClearProviders());
        _apps.Add(app);
        await app.StartAsync();
        return (app.Urls.Single() + "/", app.Services.GetRequiredService<GatewayForwarder>());
    }

    private Task<HttpResponseMessage> PostAsync(string gateway) =>
        _client.PostAsync(gateway + "v1/completions", new StringContent(Body, Encoding.UTF8, "application/json"));

    /// <summary>The data of each event of an event stream.</summary>
    private static List<string> Events(string stream) =>
        stream.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Trim())
            .Where(e => e.StartsWith("data: ", StringComparison.Ordinal))
            .Select(e => e["data: ".Length..])
            .ToList();
}
