namespace Gorgo.Proxy;

/// <summary>Emulates a wide-area link in front of an HTTP backend: half the RTT before the request leaves, half before its response headers return; streamed body bytes then flow without further delay, as over TCP.</summary>
public sealed class WanDelayHandler(double rttMs, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>The emulated RTT.</summary>
    public double RttMs { get; } = rttMs;

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        TimeSpan half = TimeSpan.FromMilliseconds(RttMs / 2);
        await Task.Delay(half, cancellationToken).ConfigureAwait(false);
        HttpResponseMessage response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        await Task.Delay(half, cancellationToken).ConfigureAwait(false);
        return response;
    }
}
