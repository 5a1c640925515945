using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gorgo.Serving.Telemetry;

/// <summary>
/// The process's telemetry: Gorgo's meter and activity source, one metrics pipeline behind every node's
/// <c>GET /metrics</c> (Prometheus text, through OpenTelemetry's exporter), and OTLP trace export when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set. Process-wide because OpenTelemetry listens to meters by name: a
/// pipeline per node would count every node of a <c>gorgo up</c> process once per node.
/// </summary>
public static class GorgoTelemetry
{
    /// <summary>Name of Gorgo's meter and activity source.</summary>
    public const string Name = "Gorgo";

    /// <summary>The environment variable that turns trace export on (the OpenTelemetry standard one).</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The meters exported besides Gorgo's: the .NET runtime, ASP.NET Core, Kestrel and Orleans.</summary>
    public static readonly IReadOnlyList<string> FrameworkMeters = ["System.Runtime", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.Orleans"];

    /// <summary>The activity sources traced besides Gorgo's: ASP.NET Core's request spans, HttpClient's and Orleans' grain calls.</summary>
    public static readonly IReadOnlyList<string> FrameworkSources = ["Microsoft.AspNetCore", "System.Net.Http", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application"];

    private static readonly Lazy<MeterProvider> MetricsPipeline = new(() => Sdk.CreateMeterProviderBuilder()
        .AddMeter([Name, .. FrameworkMeters])
        .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)
        .Build());

    private static readonly object TracingGate = new();
    private static TracerProvider? tracing;

    /// <summary>Gorgo's spans: the routing decision and the generation.</summary>
    public static ActivitySource Source { get; } = new(Name);

    /// <summary>Gorgo's instruments (see <see cref="GorgoMetrics"/>).</summary>
    public static Meter Meter { get; } = new(Name);

    /// <summary>The process's metrics pipeline (started on first use).</summary>
    public static MeterProvider Metrics => MetricsPipeline.Value;

    /// <summary>Whether spans are exported (<see cref="StartTracing"/> found an OTLP endpoint).</summary>
    public static bool Tracing
    {
        get
        {
            lock (TracingGate)
            {
                return tracing is not null;
            }
        }
    }

    /// <summary>
    /// Starts OTLP trace export for this process when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the exporter reads the
    /// other standard <c>OTEL_EXPORTER_OTLP_*</c> variables itself); spans name <paramref name="instance"/> as
    /// <c>service.instance.id</c>. The first call decides; later ones do nothing. Returns whether export is on.
    /// </summary>
    public static bool StartTracing(string instance)
    {
        ArgumentException.ThrowIfNullOrEmpty(instance);
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(OtlpEndpointVariable)))
        {
            return false;
        }

        lock (TracingGate)
        {
            tracing ??= Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(
                    Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is { Length: > 0 } service ? service : "gorgo",
                    serviceInstanceId: instance))
                .AddSource([Name, .. FrameworkSources])
                .AddOtlpExporter()
                .Build();
            return true;
        }
    }

    /// <summary>Maps <c>GET /metrics</c>: the process's metrics in Prometheus text format.</summary>
    public static IEndpointConventionBuilder MapMetrics(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapPrometheusScrapingEndpoint("/metrics", Metrics, null, null);
}
