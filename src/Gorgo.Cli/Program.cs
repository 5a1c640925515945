using Gorgo.Cli;

return await GorgoCommand.Create().Parse(args).InvokeAsync();
