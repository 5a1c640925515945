using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;

namespace Gorgo.Cli.Mesh;

/// <summary>Console logging for mesh commands: Gorgo at Information, Orleans, ASP.NET Core and Azure at Warning, Polly (Orleans' placement retries) at Error so they do not flood the console.</summary>
internal static class MeshLogging
{
    public static void Configure(ILoggingBuilder logging, bool verbose)
    {
        Serilog.Core.Logger logger = new LoggerConfiguration()
            .MinimumLevel.Is(verbose ? LogEventLevel.Debug : LogEventLevel.Information)
            .MinimumLevel.Override("Orleans", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Azure", LogEventLevel.Warning)
            .MinimumLevel.Override("Orleans.Runtime.Silo", LogEventLevel.Error)
            .MinimumLevel.Override("Orleans.Runtime.Watchdog", LogEventLevel.Error)
            .MinimumLevel.Override("Polly", LogEventLevel.Error)
            // A failed start is reported by the command in one line; the host's own report (a stack trace) only with --verbose.
            .Filter.ByExcluding(e => !verbose && e.MessageTemplate.Text == "Hosting failed to start")
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext:l}: {Message:lj}{NewLine}{Exception}", standardErrorFromLevel: LogEventLevel.Warning)
            .CreateLogger();
        logging.ClearProviders();
        logging.AddSerilog(logger, dispose: true);
    }
}
