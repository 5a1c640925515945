using System.CommandLine;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace Gorgo.Cli.Mesh;

/// <summary>Console logging for serving commands (one event per request at Information): Gorgo at Information, Orleans, ASP.NET Core and Azure at Warning, Polly (Orleans' placement retries) at Error so they do not flood the console.</summary>
internal static class MeshLogging
{
    /// <summary>The <c>--log-format</c> option: <c>text</c> (one line per event) or <c>json</c> (one compact JSON object per event, for log shippers).</summary>
    public static Option<string> FormatOption() => new Option<string>("--log-format")
    {
        Description = "Console log format: text or json (one JSON object per event, properties included).",
        DefaultValueFactory = _ => "text",
    }.AcceptOnlyFromAmong("text", "json");

    public static void Configure(ILoggingBuilder logging, bool verbose, string format = "text")
    {
        LoggerConfiguration configuration = new LoggerConfiguration()
            .MinimumLevel.Is(verbose ? LogEventLevel.Debug : LogEventLevel.Information)
            .MinimumLevel.Override("Orleans", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Azure", LogEventLevel.Warning)
            .MinimumLevel.Override("Orleans.Runtime.Silo", LogEventLevel.Error)
            .MinimumLevel.Override("Orleans.Runtime.Watchdog", LogEventLevel.Error)
            .MinimumLevel.Override("Polly", LogEventLevel.Error)
            // A failed start is reported by the command in one line; the host's own report (a stack trace) only with --verbose.
            .Filter.ByExcluding(e => !verbose && e.MessageTemplate.Text == "Hosting failed to start")
            ;
        configuration = format == "json"
            ? configuration.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: LogEventLevel.Warning)
            : configuration.WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext:l}: {Message:lj}{NewLine}{Exception}", standardErrorFromLevel: LogEventLevel.Warning);
        Serilog.Core.Logger logger = configuration.CreateLogger();
        logging.ClearProviders();
        logging.AddSerilog(logger, dispose: true);
    }
}
