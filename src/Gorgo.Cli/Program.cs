using System.CommandLine;
using Gorgo.Cli;

// Ctrl+C and SIGTERM cancel the command; serving commands then drain, which may take up to their drain timeout.
return await GorgoCommand.Create().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = ServingHost.TerminationTimeout });
