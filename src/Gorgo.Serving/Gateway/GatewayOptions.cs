using Gorgo.Routing.Options;

namespace Gorgo.Serving.Gateway;

/// <summary>Settings of <c>gorgo gateway</c>: a stateless front tier in one region that forwards to the mesh's nodes and outlives them.</summary>
public sealed record GatewayOptions
{
    /// <summary>The region the gateway serves; sent as <c>x-gorgo-client-region</c> when a client does not say.</summary>
    public string Region { get; init; } = string.Empty;

    /// <summary>URL the gateway listens on; <c>https</c> serves TLS with <see cref="TlsCertificatePath"/>.</summary>
    public string ListenUrl { get; init; } = "http://127.0.0.1:8000";

    /// <summary>PEM certificate (with its chain) the gateway serves HTTPS with; required when <see cref="ListenUrl"/> is <c>https</c>.</summary>
    public string? TlsCertificatePath { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertificatePath"/>; null when the key is in the certificate's file.</summary>
    public string? TlsKeyPath { get; init; }

    /// <summary>Whether the gateway serves HTTPS.</summary>
    public bool UsesTls => ListenUrl.StartsWith("https:", StringComparison.OrdinalIgnoreCase);

    /// <summary>The nodes' front doors, tried in this order: the gateway's own region's node first, then the nearest others.</summary>
    public IReadOnlyList<Uri> Upstreams { get; init; } = [];

    /// <summary>Longest a request may take from arrival to its last byte, seconds; past it the gateway ends it with an error.</summary>
    public double RequestTimeoutSeconds { get; init; } = 300;

    /// <summary>Longest a connection to a node may take to open, ms, before the next node is tried.</summary>
    public int ConnectTimeoutMs { get; init; } = 2_000;

    /// <summary>Pause before trying the next node, ms (jittered), so a node that is restarting is not hammered.</summary>
    public int RetryDelayMs { get; init; } = 20;

    /// <summary>Largest request body accepted, bytes (the body is held so that it can be sent to another node).</summary>
    public long MaxRequestBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Problems with these options, empty when valid.</summary>
    public IReadOnlyList<string> Validate() => new OptionsErrors()
        .Check(!string.IsNullOrWhiteSpace(Region), "Region must name the gateway's region.")
        .Check(Uri.TryCreate(ListenUrl, UriKind.Absolute, out Uri? listen) && listen.Scheme is "http" or "https", $"ListenUrl must be an http(s) URL (got '{ListenUrl}').")
        .Check(!UsesTls || TlsCertificatePath is not null, "ListenUrl is https: TlsCertificatePath (--tls-cert) must name the PEM certificate to serve.")
        .Check(UsesTls || (TlsCertificatePath is null && TlsKeyPath is null), "TlsCertificatePath and TlsKeyPath (--tls-cert, --tls-key) need an https ListenUrl (--listen https://...).")
        .Check(TlsCertificatePath is null || File.Exists(TlsCertificatePath), $"TlsCertificatePath '{TlsCertificatePath}' does not exist.")
        .Check(TlsKeyPath is null || File.Exists(TlsKeyPath), $"TlsKeyPath '{TlsKeyPath}' does not exist.")
        .Check(Upstreams.Count > 0, "Upstreams must list at least one node URL (--upstream).")
        .Check(Upstreams.All(u => u.IsAbsoluteUri && u.Scheme is "http" or "https"), $"Upstreams must be http(s) URLs (got {string.Join(", ", Upstreams)}).")
        .Check(double.IsFinite(RequestTimeoutSeconds) && RequestTimeoutSeconds > 0, $"RequestTimeoutSeconds must be positive (got {RequestTimeoutSeconds}).")
        .Check(ConnectTimeoutMs >= 1, $"ConnectTimeoutMs must be at least 1 (got {ConnectTimeoutMs}).")
        .Check(RetryDelayMs >= 0, $"RetryDelayMs cannot be negative (got {RetryDelayMs}).")
        .Check(MaxRequestBytes >= 1024, $"MaxRequestBytes must be at least 1024 (got {MaxRequestBytes}).")
        .Errors;

    /// <summary>These options, or <see cref="RoutingOptionsException"/> listing every problem.</summary>
    public GatewayOptions EnsureValid()
    {
        new OptionsErrors().Include(Validate()).ThrowIfAny("gateway options");
        return this;
    }
}
